import { sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { rows } from './dialect.ts'

/** How many of the fairest tenants one claim looks at before it gives up until the next poll. */
const CANDIDATES = 8

type Candidate = { id: number; tenant_id: number; last: string | null }

/**
 * The claim's pick on PostgreSQL, in the same fair order as SQLite's (the tenant whose latest
 * claimed or finished job is oldest first, then due time), without serializing the runners:
 * one statement ranks each tenant's first due job once per tenant, then the first candidate
 * whose job and tenant rows can be locked (`FOR UPDATE … SKIP LOCKED`) is taken, after a fresh
 * look that no other runner served that tenant since the ranking (which would make it no longer
 * the fairest). Rows stay locked until the claim commits.
 */
export async function pickPg(
  db: Db,
  now: Date,
  node: string | null,
): Promise<{ id: number } | undefined> {
  const candidates = await rows<Candidate>(
    db,
    sql`select q.id, q.tenant_id, (select max(p.updated_at) from jobs p
          where p.tenant_id = q.tenant_id and p.status in ('running', 'done', 'failed'))::text as last
        from (select distinct on (j.tenant_id) j.id, j.tenant_id, j.run_at
              from jobs j join tenants t on t.id = j.tenant_id
              where j.status = 'queued' and j.run_at <= ${now} and not t.disabled
                and t.node is not distinct from ${node}
              order by j.tenant_id, j.run_at, j.id) q
        where not exists (select 1 from jobs r where r.tenant_id = q.tenant_id and r.status = 'running')
        order by last asc nulls first, q.run_at, q.id
        limit ${CANDIDATES}`,
  )
  for (const c of candidates) {
    const [locked] = await rows<{ id: number }>(
      db,
      sql`select j.id from jobs j join tenants t on t.id = j.tenant_id
          where j.id = ${c.id} and j.status = 'queued'
          for update of j, t skip locked`,
    )
    if (!locked) continue // another runner holds it now
    const [fresh] = await rows<{ running: boolean; last: string | null }>(
      db,
      sql`select exists (select 1 from jobs where tenant_id = ${c.tenant_id} and status = 'running') as running,
            (select max(updated_at) from jobs where tenant_id = ${c.tenant_id}
              and status in ('running', 'done', 'failed'))::text as last`,
    )
    if (fresh!.running || fresh!.last !== c.last) continue // served meanwhile: not the fairest
    return locked
  }
  return undefined
}
