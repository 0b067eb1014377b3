/**
 * The daemon's Unix signals. SIGTERM and SIGINT stop it at once (the
 * handler releases the reserve and exits: a poll in flight cannot be
 * cancelled, and exit does not wait for it). SIGHUP asks for a reload,
 * which the loop carries out between two waits; a byte in the wake pipe
 * ends the current wait now.
 *
 * @module
 */

import {
  closeFd,
  makeWakePipe,
  readNonBlocking,
  writeFd,
} from "../../ffi/libc.ts";

export interface SignalHandlers {
  /** SIGTERM/SIGINT: release, record, say so; the process then exits 0. */
  stop(signal: "SIGTERM" | "SIGINT"): void;
}

/** The wake pipe and the reload request the loop polls for. */
export class Signals {
  readonly #pipe = makeWakePipe();
  readonly #listeners: [Deno.Signal, () => void][] = [];
  #reloadRequested = false;

  constructor(handlers: SignalHandlers) {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      this.#listen(signal, () => {
        handlers.stop(signal);
        Deno.exit(0);
      });
    }
    this.#listen("SIGHUP", () => {
      this.#reloadRequested = true;
      this.wake();
    });
  }

  #listen(signal: Deno.Signal, listener: () => void): void {
    Deno.addSignalListener(signal, listener);
    this.#listeners.push([signal, listener]);
  }

  /** Ends the loop's current wait. */
  wake(): void {
    try {
      writeFd(this.#pipe.writeFd, new Uint8Array([1]));
    } catch {
      // the pipe is full: a wake is already pending
    }
  }

  /** Stops listening (a daemon stopped from inside its process: tests). */
  close(): void {
    for (const [signal, listener] of this.#listeners) {
      Deno.removeSignalListener(signal, listener);
    }
    closeFd(this.#pipe.readFd);
    closeFd(this.#pipe.writeFd);
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
