import type { Deps } from '../../src/web/context.ts'
import { assignDatabase } from '../../src/domain/databases.ts'
import type { MariaDbServer } from '../services/mariadb.ts'
import type { PostgresServer } from '../services/postgres.ts'

/**
 * The two sample databases the database tests share, on real servers: `shop` on MariaDB
 * (`orders`: 2 rows, user shopuser) and `blog` on PostgreSQL (`posts`: 3 rows, owned by
 * bloguser), both assigned to the tenant with their connections. Returns their ids.
 */
export async function shopAndBlog(
  deps: Deps,
  tenantId: number,
  maria: MariaDbServer,
  pg: PostgresServer,
): Promise<{ shop: number; blog: number }> {
  await maria.createDatabase('shop', 'shopuser', 'maria pw #1')
  await maria.sql(
    "CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(40)); INSERT INTO orders VALUES (1,'first'),(2,'second');",
    'shop',
  )
  await pg.createDatabase('blog', 'bloguser', 'pg pw :2')
  await pg.sql(
    "CREATE TABLE posts (id INT PRIMARY KEY, title TEXT); INSERT INTO posts VALUES (1,'hello'),(2,'world'),(3,'again');",
    'blog',
  )
  await pg.sql('ALTER TABLE posts OWNER TO bloguser', 'blog')
  const key = deps.config.secretKey
  const at = (port: number) => ({ host: '127.0.0.1', port: String(port) })
  const shop = (
    await assignDatabase(deps.db, key, tenantId, {
      engine: 'mariadb',
      name: 'shop',
      ...at(maria.port),
      username: 'shopuser',
      password: 'maria pw #1',
    })
  ).id
  const blog = (
    await assignDatabase(deps.db, key, tenantId, {
      engine: 'postgresql',
      name: 'blog',
      ...at(pg.port),
      username: 'bloguser',
      password: 'pg pw :2',
    })
  ).id
  return { shop, blog }
}
