/**
 * Text that comes from outside — process names, cgroup paths, file
 * contents — made safe to log: every byte may appear in it, so control
 * characters, backslashes and bytes that are not UTF-8 are shown as `\xNN`,
 * and a log line stays one line.
 *
 * @module
 */

const HEX = (byte: number): string =>
  `\\x${byte.toString(16).padStart(2, "0")}`;

/**
 * Undoes the `\xNN` escapes /dev/kmsg applies (kernel/printk: every byte
 * below 0x20, from 0x7f up, and the backslash itself), giving the bytes the
 * kernel printed.
 *
 * @example
 * ```ts
 * unescapeKernelBytes("ev\\x0ail"); // Uint8Array [101, 118, 10, 105, 108]
 * ```
 */
export function unescapeKernelBytes(text: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const escape = /^\\x([0-9a-fA-F]{2})/.exec(text.slice(i, i + 4));
    if (escape) {
      bytes.push(parseInt(escape[1], 16));
      i += 3;
    } else {
      const code = text.charCodeAt(i);
      // /dev/kmsg text is ASCII; anything else is kept as its low byte.
      bytes.push(code & 0xff);
    }
  }
  return new Uint8Array(bytes);
}

/** Length in bytes of a UTF-8 sequence starting with `lead`, or 0 if none. */
function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Bytes for a log line: valid UTF-8 printed as it is, control characters
 * (C0, DEL, C1), the backslash and invalid bytes as `\xNN`.
 *
 * @example
 * ```ts
 * displayBytes(new TextEncoder().encode("ev\nil")); // "ev\\x0ail"
 * ```
 */
export function displayBytes(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length;) {
    const byte = bytes[i];
    if (byte >= 0x20 && byte < 0x7f && byte !== 0x5c) {
      out += String.fromCharCode(byte);
      i += 1;
      continue;
    }
    const length = sequenceLength(byte);
    if (length > 0 && i + length <= bytes.length) {
      const sequence = bytes.subarray(i, i + length);
      const decoded = decodeStrict(sequence);
      if (decoded !== null && !isControl(decoded.codePointAt(0) ?? 0)) {
        out += decoded;
        i += length;
        continue;
      }
    }
    out += HEX(byte);
    i += 1;
  }
  return out;
}

function isControl(codePoint: number): boolean {
  return codePoint < 0x20 || (codePoint >= 0x7f && codePoint < 0xa0);
}

function decodeStrict(sequence: Uint8Array): string | null {
  for (let i = 1; i < sequence.length; i++) {
    if ((sequence[i] & 0xc0) !== 0x80) return null;
  }
  let codePoint = sequence[0] & (0x7f >> sequence.length);
  for (let i = 1; i < sequence.length; i++) {
    codePoint = (codePoint << 6) | (sequence[i] & 0x3f);
  }
  const minimum = [0, 0, 0x80, 0x800, 0x10000][sequence.length];
  if (
    codePoint < minimum || codePoint > 0x10ffff ||
    (codePoint >= 0xd800 && codePoint <= 0xdfff)
  ) {
    return null;
  }
  return String.fromCodePoint(codePoint);
}

// deno-lint-ignore no-control-regex
const CONTROL_OR_BACKSLASH = /[\x00-\x1f\x7f-\x9f\\]/g;

/**
 * A string for a log line: control characters and backslashes as `\xNN`
 * (for text that is already a JavaScript string: a file's line, a path).
 *
 * @example
 * ```ts
 * escapeControl("a\tb"); // "a\\x09b"
 * ```
 */
export function escapeControl(text: string): string {
  return text.replace(
    CONTROL_OR_BACKSLASH,
    (character) => HEX(character.charCodeAt(0)),
  );
}

/** A name as the kernel log printed it (escaped), shown safely. */
export function displayKernelText(text: string): string {
  return displayBytes(unescapeKernelBytes(text));
}

/** Byte length of kernel-log text once its escapes are undone. */
export function kernelTextBytes(text: string): number {
  return unescapeKernelBytes(text).length;
}
