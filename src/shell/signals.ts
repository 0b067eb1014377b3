/**
 * The daemon's Unix signals. SIGTERM and SIGINT stop it at once (the
 * handler releases the reserve and exits: a poll in flight cannot be
 * cancelled, and exit does not wait for it). SIGHUP asks for a reload,
 * which the loop carries out between two waits; a byte in the wake pipe
 * ends the current wait now.
 *
 * @module
 */

import { makeWakePipe, readNonBlocking, writeFd } from "../../ffi/libc.ts";

export interface SignalHandlers {
  /** SIGTERM/SIGINT: release, record, say so; the process then exits 0. */
  stop(signal: "SIGTERM" | "SIGINT"): void;
}

/** The wake pipe and the reload request the loop polls for. */
export class Signals {
  readonly #pipe = makeWakePipe();
  #reloadRequested = false;

  constructor(handlers: SignalHandlers) {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, () => {
        handlers.stop(signal);
        Deno.exit(0);
      });
    }
    Deno.addSignalListener("SIGHUP", () => {
      this.#reloadRequested = true;
      try {
        writeFd(this.#pipe.writeFd, new Uint8Array([1]));
      } catch {
        // the pipe is full: a wake is already pending
      }
    });
  }

  /** The descriptor the loop's poll waits on, besides the sources'. */
  get fd(): number {
    return this.#pipe.readFd;
  }

  /** After a wake: empties the pipe; true when a reload was asked for. */
  takeReload(): boolean {
    readNonBlocking(this.#pipe.readFd, new Uint8Array(64));
    const requested = this.#reloadRequested;
    this.#reloadRequested = false;
    return requested;
  }
}
