import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, chownSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Db } from '../../src/db/client.ts'
import { saveDestination, type DestinationDeps } from '../../src/domain/destinations.ts'
import { newPolicyInput, savePolicy } from '../../src/domain/policies.ts'
import { createTenant } from '../../src/domain/tenants.ts'
import { Interrupted, isStopping, track } from './measure.ts'

/** Every bench tenant's sign-in password (the panel's own check wants ≥ its minimum length). */
export const TENANT_PASSWORD = 'bench password 1'

/** One throughput tenant: a real system user, its home, its panel policy, its own restic repo. */
export type FleetTenant = {
  name: string
  uid: number
  gid: number
  home: string
  tenantId: number
  policyId: number
  /** The direct-restic baseline's repository, cache and password (random, like the panel's). */
  direct: { repo: string; cache: string; password: string }
}

const idOf = (flag: '-u' | '-g', user: string) =>
  Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim())

/** `userdel` of a user this benchmark added; its processes must have ended. */
export function removeUser(name: string): void {
  execFileSync('userdel', [name], { stdio: 'ignore' })
}

/** Runs `args` as the tenant's user (setpriv: that uid/gid, no supplementary groups). */
export function asUser(t: { uid: number; gid: number }, args: string[]) {
  const ids = [`--reuid=${t.uid}`, `--regid=${t.gid}`, '--clear-groups']
  return ['setpriv', [...ids, '--', ...args]] as const
}

/** How a direct restic ended: exit status (null when killed) and its last stderr line. */
export type Exit = { code: number | null; last: string }

/**
 * restic as the tenant's user on its direct repository, with the panel's restic environment
 * (src/engine/restic/restic.ts). Not sampled like measure(): polling /proc beside it would
 * take CPU from the baseline that the panel's runner does not pay.
 */
export function directRestic(t: FleetTenant, args: string[], timeoutMs: number): Promise<Exit> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: t.direct.cache,
    RESTIC_REPOSITORY: t.direct.repo,
    RESTIC_PASSWORD: t.direct.password,
    RESTIC_CACHE_DIR: t.direct.cache,
    RESTIC_PROGRESS_FPS: '2',
    TZ: 'UTC',
  }
  const [cmd, argv] = asUser(t, ['restic', ...args])
  return new Promise((resolve, reject) => {
    if (isStopping()) return reject(new Interrupted())
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] })
    track(child)
    let stderr = ''
    child
      .stderr!.setEncoding('utf8')
      .on('data', (d: string) => (stderr = (stderr + d).slice(-4000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      if (isStopping()) return reject(new Interrupted())
      const last = stderr.trim().split('\n').at(-1) ?? ''
      resolve({ code, last: code === null ? `killed after ${timeoutMs / 1000} s` : last })
    })
  })
}

/**
 * Creates tenant `name`: the system user, its home as a copy of `template` owned by it, the
 * panel tenant with a Local destination and a daily policy (the CLI's defaults, as
 * `tenant add` + `destination add` + `policy add` leave them), and an initialised direct
 * restic repository under `root/direct/<name>` owned by the user.
 */
export async function addFleetTenant(
  deps: DestinationDeps & { db: Db },
  root: string,
  template: string,
  name: string,
  onUser: (name: string) => void,
): Promise<FleetTenant> {
  try {
    removeUser(name) // a leftover of this exact name from a run killed before its cleanup
  } catch {
    // none: the usual case
  }
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name])
  onUser(name)
  const uid = idOf('-u', name)
  const gid = idOf('-g', name)
  const home = join(root, 'homes', name)
  mkdirSync(join(root, 'homes'), { recursive: true, mode: 0o711 })
  execFileSync('cp', ['-a', '--', template, home])
  execFileSync('chown', ['-R', '--no-dereference', `${uid}:${gid}`, '--', home])
  chmodSync(home, 0o700)

  const tenant = await createTenant(deps.db, {
    name,
    password: TENANT_PASSWORD,
    homeDir: home,
    systemUser: name,
    timezone: 'UTC',
  })
  const dest = await saveDestination(deps, tenant.id, 'local', null, {
    name: 'Local',
    settings: { folder: 'repo' },
  })
  const policyId = await savePolicy(deps.db, tenant.id, null, {
    ...newPolicyInput('UTC'),
    name: 'Bench',
    destinationIds: [dest.id],
    preset: 'custom',
    cron: '0 3 * * *',
  })

  const dir = join(root, 'direct', name)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(join(root, 'direct'), 0o711)
  chownSync(dir, uid, gid)
  const direct = {
    repo: join(dir, 'repo'),
    cache: join(dir, 'cache'),
    password: randomBytes(24).toString('base64url'), // as src/db/repositories.ts makes them
  }
  const t: FleetTenant = { name, uid, gid, home, tenantId: tenant.id, policyId, direct }
  const init = await directRestic(t, ['init'], 120_000)
  if (init.code !== 0) throw new Error(`restic init for ${name} exited ${init.code}: ${init.last}`)
  return t
}
