import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { eq } from 'drizzle-orm'
import { Client, addTenant, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { requireMariaDb, startMariaDb, type MariaDbServer } from '../services/mariadb.ts'
import { assignDatabase } from '../../src/domain/databases.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { startRunner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { listSnapshots, type Snapshot } from '../../src/engine/restic/snapshots.ts'
import { tenants } from '../../src/db/schema.ts'

describe.runIf(rootAvailable() && requireMariaDb())(
  'downloading a database dump from a snapshot (real MariaDB)',
  () => {
    const deps = freshDeps()
    const client = new Client(deps)
    let maria: MariaDbServer
    let t: Awaited<ReturnType<typeof realTenant>>
    let snap: Snapshot
    let base = ''
    const ids = { shop: 0, later: 0, othersDb: 0 }

    beforeAll(async () => {
      maria = await startMariaDb()
      await maria.createDatabase('shop', 'shopuser', 'maria pw #1')
      await maria.sql(
        "CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(40)); INSERT INTO orders VALUES (1,'first'),(2,'second');",
        'shop',
      )
      t = await realTenant(deps, 'mira', { 'big/random.bin': randomBytes(24 * 1024 * 1024) })
      const conn = {
        host: '127.0.0.1',
        port: String(maria.port),
        username: 'shopuser',
        password: 'maria pw #1',
      }
      ids.shop = (
        await assignDatabase(deps.db, deps.config.secretKey, t.tenant.id, {
          engine: 'mariadb',
          name: 'shop',
          ...conn,
        })
      ).id
      const dest = await localDestination(deps, t.tenant.id)
      const policyId = await policy(deps, t.tenant.id, [dest.id], { databaseIds: [ids.shop] })
      const runner = startRunner({
        db: deps.db,
        handlers: jobHandlers(deps),
        pollMs: 100,
        onError: () => {},
      })
      try {
        const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
        runner.wake()
        expect((await waitJob(deps, t.tenant.id, job.id)).status).toBe('done')
      } finally {
        await runner.stop()
      }
      snap = (await listSnapshots(deps, t.tenant, dest))[0]!
      expect(snap.databases).toEqual(['mariadb-shop'])
      base = `/backups/restore/${dest.id}/${snap.id}`
      // Assigned after the backup: the snapshot holds no dump of it.
      ids.later = (
        await assignDatabase(deps.db, deps.config.secretKey, t.tenant.id, {
          engine: 'mariadb',
          name: 'later',
          ...conn,
        })
      ).id
      const otto = await addTenant(deps, 'otto')
      ids.othersDb = (
        await assignDatabase(deps.db, deps.config.secretKey, otto.id, {
          engine: 'mariadb',
          name: 'ottos',
          ...conn,
        })
      ).id
      // 5:30 ahead of UTC, no daylight saving: the file name is in the tenant's own time.
      await deps.db
        .update(tenants)
        .set({ timezone: 'Asia/Kolkata' })
        .where(eq(tenants.id, t.tenant.id))
      await client.login('mira')
    }, 180_000)

    afterAll(async () => {
      await maria?.stop()
      removeUsers()
    })

    /** A GET with the session through app.request(), the body left to the caller (bytes). */
    function get(path: string) {
      const cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
      return client.app.request(path, { headers: { cookie } })
    }

    it('streams the dump gzipped as <name>-<YYYY-MM-DD-HHMM>.sql.gz, holding the table', async () => {
      const res = await get(`${base}/database/${ids.shop}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/gzip')
      const local = new Date(Date.parse(snap.time) + 5.5 * 3600_000).toISOString()
      const stamp = `${local.slice(0, 10)}-${local.slice(11, 13)}${local.slice(14, 16)}`
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="shop-${stamp}.sql.gz"`,
      )
      const sql = gunzipSync(Buffer.from(await res.arrayBuffer())).toString()
      expect(sql).toContain('CREATE TABLE `orders`')
      expect(sql).toMatch(/INSERT INTO `orders` VALUES[^;]*'first'[^;]*'second'/)
    })

    it('is a 404 for a database the snapshot holds no dump of, another tenant’s, or an unknown one', async () => {
      for (const id of [ids.later, ids.othersDb, 999_999]) {
        const res = await get(`${base}/database/${id}`)
        expect(res.status, String(id)).toBe(404)
        expect(res.headers.get('content-type')).toContain('text/html')
      }
      const ok = await get(`${base}/database/${ids.shop}`)
      expect(ok.status).toBe(200)
      await ok.arrayBuffer()
    })

    it('counts against the two downloads at once, and a cancelled download gives its slot back', async () => {
      const held = []
      for (let i = 0; i < 2; i++) {
        const res = await get(`${base}/download?path=${t.home}/big`)
        expect(res.status).toBe(200)
        const reader = res.body!.getReader()
        expect((await reader.read()).done).toBe(false)
        held.push(reader)
      }
      const refused = await get(`${base}/database/${ids.shop}`)
      expect(refused.status).toBe(429)
      expect(await refused.text()).toContain(
        'A download is already running: wait for it to finish, then try again.',
      )
      await Promise.all(held.map((reader) => reader.cancel()))
      const end = Date.now() + 5_000
      let res = await get(`${base}/database/${ids.shop}`)
      while (res.status !== 200 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100))
        res = await get(`${base}/database/${ids.shop}`)
      }
      expect(res.status).toBe(200)
      expect(gunzipSync(Buffer.from(await res.arrayBuffer())).toString()).toContain(
        'CREATE TABLE `orders`',
      )
    })
  },
)
