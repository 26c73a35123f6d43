// The time zones a tenant or an admin can pick, by their current IANA names. Node 20's ICU still
// lists some zones under names IANA retired (Asia/Calcutta for Asia/Kolkata, Europe/Kiev for
// Europe/Kyiv): the list shows the current names, and both old and new names are accepted.

/** Retired IANA names that ICU may still list, and the names that replaced them. */
const RENAMED: Readonly<Record<string, string>> = {
  'Africa/Asmera': 'Africa/Asmara',
  'America/Buenos_Aires': 'America/Argentina/Buenos_Aires',
  'America/Catamarca': 'America/Argentina/Catamarca',
  'America/Coral_Harbour': 'America/Atikokan',
  'America/Cordoba': 'America/Argentina/Cordoba',
  'America/Godthab': 'America/Nuuk',
  'America/Indianapolis': 'America/Indiana/Indianapolis',
  'America/Jujuy': 'America/Argentina/Jujuy',
  'America/Louisville': 'America/Kentucky/Louisville',
  'America/Mendoza': 'America/Argentina/Mendoza',
  'Asia/Calcutta': 'Asia/Kolkata',
  'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Rangoon': 'Asia/Yangon',
  'Asia/Saigon': 'Asia/Ho_Chi_Minh',
  'Atlantic/Faeroe': 'Atlantic/Faroe',
  'Europe/Kiev': 'Europe/Kyiv',
  'Pacific/Enderbury': 'Pacific/Kanton',
  'Pacific/Ponape': 'Pacific/Pohnpei',
  'Pacific/Truk': 'Pacific/Chuuk',
}

function intlName(zone: string): string | null {
  try {
    return new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone
  } catch {
    return null
  }
}

let zones: readonly string[] | null = null
let byLowerName: Map<string, string> | null = null

/**
 * Every zone to pick from, by current name, sorted, UTC first. Built on first use: checking
 * some 400 zones with Intl costs tens of milliseconds every process would pay at start.
 */
export function timeZones(): readonly string[] {
  zones ??= [
    'UTC',
    ...[...new Set(Intl.supportedValuesOf('timeZone').map((z) => RENAMED[z] ?? z))]
      .filter((z) => z !== 'UTC' && intlName(z) !== null)
      .sort(),
  ]
  return zones
}

function lowerNames(): Map<string, string> {
  byLowerName ??= new Map(
    [...timeZones(), ...Object.keys(RENAMED)].map((z) => [z.toLowerCase(), z] as const),
  )
  return byLowerName
}

/**
 * The current name of `zone` ("Asia/Calcutta" → "Asia/Kolkata", "europe/berlin" →
 * "Europe/Berlin", "Etc/UTC" → "UTC"), or null when it is not a time zone at all.
 */
export function canonicalZone(zone: string): string | null {
  const typed = zone.trim()
  if (!typed || typed.length > 64) return null
  const listed = lowerNames().get(typed.toLowerCase())
  if (listed) return RENAMED[listed] ?? listed
  const resolved = intlName(typed)
  if (resolved === null) return null
  return RENAMED[resolved] ?? resolved
}

/** Why `zone` cannot be used, in words for the field; undefined when it can. */
export function zoneProblem(zone: string): string | undefined {
  if (!zone.trim()) return 'Choose a time zone, e.g. Europe/Berlin or UTC.'
  if (canonicalZone(zone) === null)
    return `“${zone.trim().slice(0, 64)}” is not a time zone. Choose one from the list, e.g. Europe/Berlin.`
  return undefined
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>()

/** "UTC+01:00", "UTC+05:30", "UTC-03:00" ("UTC+00:00" for UTC): `zone`'s offset at `at`. */
export function zoneOffset(zone: string, at: Date = new Date()): string {
  let format = offsetFormats.get(zone)
  if (!format) {
    format = new Intl.DateTimeFormat('en', { timeZone: zone, timeZoneName: 'longOffset' })
    offsetFormats.set(zone, format)
  }
  const name = format.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT'
  const offset = name.replace(/^GMT/, '')
  return `UTC${offset || '+00:00'}`
}

/** "Europe/Berlin (UTC+01:00)" (UTC is just "UTC"): how a zone is offered and named on a page. */
export function zoneLabel(zone: string, at: Date = new Date()): string {
  const name = canonicalZone(zone) ?? zone
  return name === 'UTC' ? 'UTC' : `${name} (${zoneOffset(name, at)})`
}
