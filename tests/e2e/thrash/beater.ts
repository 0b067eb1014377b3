/**
 * The thrash scenarios' victim: a Deno program whose code must stay in
 * memory for it to make progress. Rounds of ~200 ms of work spread over
 * much of V8 and Deno (JSON, regular expressions, strings, sorting, Intl,
 * URL, TextEncoder, crypto), each followed by a 100 ms timer that writes a
 * heartbeat to /dev/kmsg, where the kernel stamps it with its own clock:
 * the gaps between the stamps are how long the program could not run.
 *
 * usage: deno run -A beater.ts NAME
 *
 * @module
 */

const name = Deno.args[0] ?? "x";
const kmsg = Deno.openSync("/dev/kmsg", { write: true });
const encoder = new TextEncoder();
const formats = [
  new Intl.NumberFormat("de-DE", { style: "currency", currency: "EUR" }),
  new Intl.DateTimeFormat("fr-FR", { dateStyle: "full", timeStyle: "long" }),
];

function round(n: number): number {
  const record = {
    n,
    words: Array.from({ length: 40 }, (_, i) => `w${(i * n) % 97}`),
    when: new Date(1_700_000_000_000 + n * 1000).toISOString(),
  };
  const text = JSON.stringify(record);
  let score = (JSON.parse(text) as typeof record).words.length;
  score += text.replace(/w(\d+)/g, (_, d: string) => d.padStart(3, "0"))
    .length;
  score += [...text].sort().join("").lastIndexOf("w");
  score += new Map(record.words.map((w, i) => [w, i])).size;
  score += new URL(`https://example.org/${n}?q=${record.words[3]}#x`)
    .pathname.length;
  score += encoder.encode(formats[n % 2].format(n)).length;
  score += crypto.getRandomValues(new Uint8Array(16))[0];
  return score;
}

function work(milliseconds: number): number {
  const end = performance.now() + milliseconds;
  let score = 0;
  for (let n = 0; performance.now() < end; n++) score += round(n);
  return score;
}

let beats = 0;
let sink = 0;
for (;;) {
  sink += work(200);
  await new Promise((resolve) => setTimeout(resolve, 100));
  beats += 1;
  kmsg.writeSync(encoder.encode(`beat ${name} ${beats} ${sink % 10}\n`));
}
