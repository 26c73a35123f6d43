import { describe, expect, it } from 'vitest'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { asc } from 'drizzle-orm'
import { openDb } from '../../src/db/client.ts'
import { createRun } from '../../src/db/runs.ts'
import { runs } from '../../src/db/schema.ts'

const drizzleDir = join(import.meta.dirname, '../../drizzle/sqlite')
const journal = JSON.parse(readFileSync(join(drizzleDir, 'meta/_journal.json'), 'utf8')) as {
  entries: { tag: string }[]
}

/** A migrations folder with the committed migrations before `tag` (an older panel). */
function before(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'panel-migrations-'))
  mkdirSync(join(dir, 'meta'))
  const entries = journal.entries.slice(
    0,
    journal.entries.findIndex((e) => e.tag === tag),
  )
  for (const e of entries) copyFileSync(join(drizzleDir, `${e.tag}.sql`), join(dir, `${e.tag}.sql`))
  writeFileSync(join(dir, 'meta/_journal.json'), JSON.stringify({ ...journal, entries }))
  return dir
}

describe('run numbers per tenant', () => {
  it('start at 1 for each tenant and count only its own runs', async () => {
    const db = openDb(join(mkdtempSync(join(tmpdir(), 'panel-runs-')), 'panel.db'))
    const t = (name: string) =>
      db.$client
        .prepare(`insert into tenants (name, home_dir) values (?, ?) returning id`)
        .get(name, `/home/${name}`) as { id: number }
    const a = t('alice').id
    const b = t('bob').id
    const run = (tenantId: number) =>
      createRun(db, tenantId, { kind: 'backup', trigger: 'manual', jobId: null, policyId: null })
    expect(
      [await run(a), await run(a), await run(b), await run(a), await run(b)].map((r) => [
        r.tenantId,
        r.number,
      ]),
    ).toEqual([
      [a, 1],
      [a, 2],
      [b, 1],
      [a, 3],
      [b, 2],
    ])
  })

  it('are given to the runs of an older database in order, and keep the policy name', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'panel-runs-')), 'panel.db')
    const old = openDb(path, { migrationsFolder: before('0010_run_number'), log: () => {} })
    const c = old.$client
    const tenant = (name: string) =>
      (
        c
          .prepare(`insert into tenants (name, home_dir) values (?, ?) returning id`)
          .get(name, `/home/${name}`) as { id: number }
      ).id
    const a = tenant('alice')
    const b = tenant('bob')
    const policy = c
      .prepare(
        `insert into policies (tenant_id, name, include_home, include_globs, exclude_globs,
           include_panel_settings, schedule, timezone)
         values (?, 'Nightly', 1, '[]', '[]', 0, '0 2 * * *', 'UTC') returning id`,
      )
      .get(a) as { id: number }
    const insert = c.prepare(
      `insert into runs (tenant_id, policy_id, kind, trigger, status) values (?, ?, 'backup', 'manual', 'success')`,
    )
    for (const [tenantId, policyId] of [
      [b, null],
      [a, policy.id],
      [b, null],
      [a, null],
    ] as const)
      insert.run(tenantId, policyId)
    c.close()

    const db = openDb(path, { log: () => {} })
    const rows = db.select().from(runs).orderBy(asc(runs.id)).all()
    expect(rows.map((r) => [r.tenantId, r.number, r.policyName])).toEqual([
      [b, 1, null],
      [a, 1, 'Nightly'],
      [b, 2, null],
      [a, 2, null],
    ])
    // The next run goes on from there.
    const next = await createRun(db, a, {
      kind: 'backup',
      trigger: 'manual',
      jobId: null,
      policyId: null,
    })
    expect(next.number).toBe(3)
  })
})
