import type { GuardPolicy } from './guard.ts'
import type { SecretsOf, SettingsOf, Spec } from './spec.ts'
import type { Driver } from './types.ts'

/**
 * Where a driver instance works: the tenant it serves, the admin's local backup root, and the
 * outbound guard every connection to a tenant-supplied host must pass.
 */
export type DriverContext = { tenantName: string; localRoot: string; guard: GuardPolicy }

/**
 * How stock restic reaches a destination's repository, for the recovery kit. `note` tells
 * whoever restores what else is needed; `tenantNote`, when the tenant cannot do that themself
 * (a repository only root on this server can read), what they can really do instead.
 */
export type RepositoryLocation = {
  repository: string
  env?: Record<string, string>
  note?: string
  /** The note of a tenant's own kit; `note` when absent. */
  tenantNote?: string
}

/**
 * A sign-in that stores a secret nobody types (an OAuth code flow, such as Dropbox's): once the
 * destination is saved its page offers "Connect <service>", which sends the tenant to
 * `authorizeUrl` and stores what `exchange` makes of the code that comes back (pasted, or
 * redirected to the panel's callback). The destination counts as connected while `secret` is
 * set. Pages and routes are generic: they name neither the service's type nor its fields.
 */
export type ConnectHook<S extends Spec = Spec> = {
  /** The service signed in to, in the page's words: "Connect Dropbox", "Dropbox connected." */
  service: string
  /** The secret field the sign-in fills. */
  secret: keyof SecretsOf<S> & string
  /**
   * Where the tenant's browser goes to allow access. With `redirectUri` (the panel has an https
   * address) the service sends the tenant back there; without, it shows a code to paste.
   */
  authorizeUrl(
    settings: SettingsOf<S>,
    opts: { redirectUri?: string; state: string; codeVerifier: string },
  ): string
  /**
   * The value to store in `secret` for the code the service gave (with the same `redirectUri`
   * and PKCE verifier as `authorizeUrl`). Rejects with a StorageError in plain words.
   */
  exchange(
    settings: SettingsOf<S>,
    secrets: SecretsOf<S>,
    code: string,
    opts: { redirectUri?: string; codeVerifier: string; guard: GuardPolicy },
  ): Promise<string>
}

/**
 * What every destination type provides to the panel. `open`, `repository` and `pin` receive the
 * settings and secrets typed by `settings`, the driver's one spec (stored values are typed by
 * `valuesOf` in spec.ts first). Methods, not function properties: the registry holds entries of
 * different specs side by side.
 */
export type DriverEntry<S extends Spec = Spec> = {
  label: string
  description: string
  settings: S
  /** A driver over the destination, rooted at its folder/prefix for this tenant. */
  open(settings: SettingsOf<S>, secrets: SecretsOf<S>, ctx: DriverContext): Driver
  /**
   * How stock restic reaches the same repository (for the recovery kit): its repository string,
   * any environment it needs, and a note on what else is needed.
   */
  repository(settings: SettingsOf<S>, secrets: SecretsOf<S>, ctx: DriverContext): RepositoryLocation
  /**
   * Called by Test connection before the probe: settings to pin on first contact (an SSH host
   * key), merged into the stored settings by the panel. Empty when nothing is to be pinned.
   */
  pin?(
    settings: SettingsOf<S>,
    secrets: SecretsOf<S>,
    ctx: DriverContext,
  ): Promise<Partial<SettingsOf<S>>>
  /** A sign-in flow that stores a secret (Connect Dropbox); absent for most types. */
  connect?: ConnectHook<S>
}

/**
 * A registry entry, its `open`/`repository`/`pin` typed by `entry.settings` (rclone's
 * `fs.RegInfo` with `configstruct`): `defineDriver({ settings, open(s, secrets, ctx) { … } })`.
 */
export function defineDriver<S extends Spec>(entry: DriverEntry<S>): DriverEntry<S> {
  return entry
}
