/** A stored destination's non-secret settings as form text (secrets stay blank: kept as stored). */
export function settingsAsText(settings: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(settings)) {
    if (v === false || v === null || v === undefined) continue
    out[k] = v === true ? 'on' : String(v)
  }
  return out
}
