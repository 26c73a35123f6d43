import { describe, expect, it } from 'vitest'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { auditSentence, hasSentence, type AuditFacts } from '../../views/audit-words.ts'

/** Every action the code records: literal verbs passed to auditWeb/auditCli/auditApi/audit. */
function recordedActions(): Set<string> {
  const found = new Set<string>()
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (/\.tsx?$/.test(entry.name)) {
        const text = readFileSync(path, 'utf8')
        const calls =
          /audit(?:Web|Cli|Api|Login)?\(\s*[\w.()]+,\s*([^)]*?['`][a-z][\w.${}-]*['`][^)]*?)[,)]/g
        for (const m of text.matchAll(calls))
          for (const q of m[1]!.matchAll(/['`]([a-z][\w.${}-]*)['`]/g)) found.add(q[1]!)
        for (const m of text.matchAll(
          /action:\s*(?:[\w.]+\s*\?\s*)?'([a-z][\w.-]*)'(?:\s*:\s*'([a-z][\w.-]*)')?/g,
        )) {
          found.add(m[1]!)
          if (m[2]) found.add(m[2])
        }
      }
    }
  }
  walk('src')
  // Template verbs, as the code fills them in.
  found.delete('runner.${action}')
  found.add('runner.pause').add('runner.resume')
  found.delete('${type}.connect')
  found.add('dropbox.connect')
  return new Set(
    [...found].filter(
      (a) =>
        (/^[a-z][a-z-]*(\.[a-z_-]+)*$/.test(a) && a.includes('.')) ||
        a === 'logout' ||
        a === 'download',
    ),
  )
}

const entry = (over: Partial<AuditFacts>): AuditFacts => ({
  actor: 'alice',
  action: 'login.ok',
  userId: 7,
  target: null,
  ip: null,
  details: null,
  ...over,
})
const tenant = { admin: false, viewerId: 7, zone: 'Europe/Berlin' }
const admin = { admin: true, zone: 'UTC' }

describe('the activity and audit logs in sentences', () => {
  it('has a sentence for every action the code records', () => {
    const actions = recordedActions()
    expect(actions.size).toBeGreaterThan(40)
    for (const a of ['login.ok', 'recovery.denied', 'policy.create', 'token.allow_now'])
      expect(actions).toContain(a)
    const missing = [...actions].filter((a) => !hasSentence(a))
    expect(missing).toEqual([])
  })

  it.each([
    [{ ip: '203.0.113.7' }, tenant, 'You signed in from 203.0.113.7.'],
    [{ ip: '203.0.113.7' }, admin, 'alice signed in from 203.0.113.7.'],
    [
      { action: 'recovery.denied', target: 'Here', ip: '203.0.113.7' },
      tenant,
      'Recovery kit of “Here” not shown: the password was re-entered wrongly from 203.0.113.7.',
    ],
    [
      { action: 'login.failed', details: { reason: 'wrong password' }, ip: '198.51.100.2' },
      tenant,
      'A sign-in to your account failed (wrong password) from 198.51.100.2.',
    ],
    [
      { action: 'destination.create', target: 'Nightly disk', details: { type: 'local' } },
      tenant,
      'You added the destination “Nightly disk” (Local).',
    ],
    [
      { action: 'backup.request', actor: 'cli', userId: null, target: 'Weekly home' },
      tenant,
      'Your host (command line) asked for a backup of “Weekly home”.',
    ],
    [
      {
        action: 'restore.start',
        target: '19982bc4',
        details: {
          destination: 'Here',
          snapshot: '19982bc4',
          paths: ['(everything)'],
          to: '(in place)',
        },
      },
      tenant,
      'You started restoring everything from the backup 19982bc4 on “Here”, in place.',
    ],
    [
      {
        action: 'download',
        details: { destination: 'Here', snapshot: '19982bc4aa', database: 'shop' },
      },
      tenant,
      'You downloaded the database “shop” from the backup 19982bc4 on “Here”.',
    ],
    [
      {
        action: 'tenant.update',
        actor: 'boss',
        userId: 1,
        target: 'alice',
        ip: '192.0.2.99',
        details: { changed: ['homeDir', 'password'] },
      },
      tenant,
      'Your host (boss) changed the tenant “alice”: home folder, password.',
    ],
    [
      {
        action: 'token.create',
        details: { delayed: true, activeFrom: '2026-12-04T09:30:00.000Z' },
      },
      tenant,
      'You created the backup token; it works from 4 Dec 2026, 10:30.',
    ],
    [
      {
        action: 'repository.rekey',
        actor: 'runner',
        userId: null,
        target: 'Here',
        details: { run: 3, result: 'changed' },
      },
      tenant,
      'The password of the backup storage “Here” was changed: done.',
    ],
    [
      { action: 'some.new-thing', target: 'x', ip: '203.0.113.7' },
      admin,
      'alice: some new thing “x” from 203.0.113.7.',
    ],
  ])('%j for %j', (over, reader, sentence) =>
    expect(auditSentence(entry(over as Partial<AuditFacts>), reader)).toBe(sentence),
  )

  it('never shows a tenant another person’s address', () => {
    const text = auditSentence(entry({ actor: 'boss', userId: 1, ip: '192.0.2.99' }), tenant)
    expect(text).toBe('Your host (boss) signed in.')
  })
})
