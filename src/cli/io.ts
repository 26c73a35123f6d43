/** Reads all of stdin (for --password-stdin), without the trailing newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

/** Bad command-line input: printed as one line, exit status 2. */
export class UsageError extends Error {}

export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  if (!rows.length) {
    console.log('(none)')
    return
  }
  const cell = (v: unknown) =>
    v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(',') : String(v)
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  console.log(line(columns.map((c) => c.toUpperCase())))
  for (const r of rows) console.log(line(columns.map((c) => cell(r[c]))))
}
