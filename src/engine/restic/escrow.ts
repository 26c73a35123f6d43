import { Encrypter } from 'age-encryption'
import { listTenants } from '../../db/tenants.ts'
import { listDestinations } from '../../db/destinations.ts'
import { findRepository } from '../../db/repositories.ts'
import { InputError } from '../../errors.ts'
import type { EngineDeps } from '../deps.ts'
import type { Destination, Tenant } from '../../db/schema.ts'
import { recoveryKit, type RecoveryKit } from './recovery.ts'

/** One repository's full kit in the escrow export. */
export type EscrowKit = { tenant: string; destination: string; type: string } & RecoveryKit

/** An X25519 age recipient (what `age-keygen` prints as "Public key"); bech32, so lower case. */
const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/

/**
 * The age public key an export is sealed to, trimmed; InputError (field `recipient`) unless it
 * is an X25519 recipient age accepts. Post-quantum `age1pq1…` keys are refused: the age in
 * Debian (1.1) cannot decrypt them.
 */
export async function checkRecipient(text: string): Promise<string> {
  const recipient = text.trim()
  const refuse = (why: string) => new InputError({ recipient: why })
  if (!recipient) throw refuse('Paste an age public key (it starts with age1).')
  if (!RECIPIENT.test(recipient))
    throw refuse('That is not an age public key: it starts with age1 and has 62 characters.')
  try {
    await seal(recipient, '')
  } catch {
    throw refuse('That age public key is damaged (its checksum does not match).')
  }
  return recipient
}

/** Every tenant's destinations that hold an initialized repository: what an export holds. */
export async function escrowTargets(
  deps: EngineDeps,
): Promise<{ tenant: Tenant; dest: Destination }[]> {
  const targets: { tenant: Tenant; dest: Destination }[] = []
  for (const tenant of await listTenants(deps.db)) {
    for (const dest of await listDestinations(deps.db, tenant.id)) {
      if ((await findRepository(deps.db, tenant.id, dest.id))?.initializedAt)
        targets.push({ tenant, dest })
    }
  }
  return targets
}

/**
 * Every initialized repository of every tenant, each with its complete kit (credentials
 * included, also for copies of the host's storage). For admins only.
 */
export async function allRecoveryKits(deps: EngineDeps): Promise<EscrowKit[]> {
  const kits: EscrowKit[] = []
  for (const { tenant, dest } of await escrowTargets(deps)) {
    kits.push({
      tenant: tenant.name,
      destination: dest.name,
      type: dest.type,
      ...(await recoveryKit(deps, tenant, dest, { forAdmin: true })),
    })
  }
  return kits
}

/** `text` encrypted to one age recipient: the binary age format `age -d` reads. */
export async function seal(recipient: string, text: string): Promise<Uint8Array> {
  const e = new Encrypter()
  e.addRecipient(recipient)
  return e.encrypt(text)
}

/**
 * The escrow export: every tenant's kits as JSON (`{ createdAt, kits }`), sealed to `recipient`
 * (checked first, see checkRecipient). Decrypt with `age -d -i key.txt recovery-kits.age`.
 */
export async function sealedRecoveryKits(
  deps: EngineDeps,
  recipient: string,
  now = new Date(),
): Promise<{ data: Uint8Array; count: number }> {
  const to = await checkRecipient(recipient)
  const kits = await allRecoveryKits(deps)
  const json = JSON.stringify({ createdAt: now.toISOString(), kits }, null, 2) + '\n'
  return { data: await seal(to, json), count: kits.length }
}
