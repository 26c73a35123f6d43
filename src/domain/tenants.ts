import type { Db } from '../db/client.ts'
import {
  findTenantByName,
  getTenant,
  insertTenant,
  tenantUser,
  updateTenant,
} from '../db/tenants.ts'
import { findUserByName, setPasswordHash } from '../db/users.ts'
import { hashPassword, passwordProblem } from '../auth/password.ts'
import { invalidateUserSessions } from '../auth/session.ts'
import {
  homeDirProblem,
  nodeProblem,
  planProblem,
  systemUserProblem,
  tenantNameProblem,
} from '../names.ts'
import { syncProvider } from './provider-sync.ts'
import { sharedWithOthers } from './tenant-checks.ts'
import { canonicalZone, zoneProblem } from '../time-zones.ts'
import { InputError } from '../errors.ts'
import type { Tenant } from '../db/schema.ts'

export type TenantInput = {
  name: string
  password: string
  homeDir: string
  systemUser: string
  timezone: string
  /** The hosting plan (group) provider policies can target; blank for none. */
  plan?: string
  /** The hosting node its files live on (`panel runner --node`); blank: the panel's own server. */
  node?: string
}

function checkCommon(input: TenantInput, errors: Record<string, string>) {
  const home = homeDirProblem(input.homeDir)
  if (home) errors.homeDir = home
  if (input.systemUser) {
    const su = systemUserProblem(input.systemUser)
    if (su) errors.systemUser = su
  }
  const zone = zoneProblem(input.timezone)
  if (zone) errors.timezone = zone
  const plan = input.plan?.trim()
  if (plan) {
    const problem = planProblem(plan)
    if (problem) errors.plan = problem
  }
  const node = input.node?.trim()
  if (node) {
    const problem = nodeProblem(node)
    if (problem) errors.node = problem
  }
}

/** Validates and creates a tenant with its sign-in account. Throws InputError per field. */
export async function createTenant(db: Db, input: TenantInput): Promise<Tenant> {
  const errors: Record<string, string> = {}
  const nameProblem = tenantNameProblem(input.name)
  if (nameProblem) errors.name = nameProblem
  else if ((await findTenantByName(db, input.name)) || (await findUserByName(db, input.name))) {
    errors.name = `The name “${input.name}” is already taken.`
  }
  const pw = passwordProblem(input.password)
  if (pw) errors.password = pw
  checkCommon(input, errors)
  Object.assign(errors, {
    ...(await sharedWithOthers(db, null, input.homeDir, input.systemUser || null)),
    ...errors,
  })
  if (Object.keys(errors).length) throw new InputError(errors)
  const tenant = await insertTenant(db, fields(input), await hashPassword(input.password))
  await syncProvider(db, { tenantIds: [tenant.id] }) // the host's policies cover it from the start
  return tenant
}

/** Updates home, system user, time zone and (when given) the password. */
export async function editTenant(db: Db, id: number, input: TenantInput): Promise<void> {
  const tenant = await getTenant(db, id)
  const errors: Record<string, string> = {}
  if (input.password) {
    const pw = passwordProblem(input.password)
    if (pw) errors.password = pw
  }
  checkCommon(input, errors)
  Object.assign(errors, {
    ...(await sharedWithOthers(db, id, input.homeDir, input.systemUser || null)),
    ...errors,
  })
  if (Object.keys(errors).length) throw new InputError(errors)
  const { name: _, ...rest } = fields({ ...input, name: tenant.name })
  await updateTenant(db, id, rest)
  if (rest.plan !== undefined && tenant.plan !== rest.plan)
    await syncProvider(db, { tenantIds: [id] })
  if (input.password) {
    const user = await tenantUser(db, id)
    if (user) {
      await setPasswordHash(db, user.id, await hashPassword(input.password))
      await invalidateUserSessions(db, user.id)
    }
  }
}

/** Disabling signs the tenant out everywhere; the runner will skip disabled tenants. */
export async function setTenantDisabled(db: Db, id: number, disabled: boolean): Promise<void> {
  const tenant = await getTenant(db, id)
  const { homeDir, systemUser, timezone, plan, node } = tenant
  await updateTenant(db, id, { homeDir, systemUser, timezone, plan, node, disabled })
  const user = await tenantUser(db, id)
  if (user && disabled) await invalidateUserSessions(db, user.id)
}

function fields(input: TenantInput) {
  return {
    name: input.name,
    homeDir: input.homeDir.replace(/\/+$/, ''),
    systemUser: input.systemUser || null,
    // Its current name: Asia/Calcutta is saved as Asia/Kolkata.
    timezone: canonicalZone(input.timezone) ?? input.timezone,
    // Not given (an older form or script): keep the plan as it is.
    plan: input.plan === undefined ? undefined : input.plan.trim() || null,
    // Not given: the tenant stays on its node.
    node: input.node === undefined ? undefined : input.node.trim() || null,
  }
}
