import { getTableColumns, getTableName, is, SQL, type Column, type Table } from 'drizzle-orm'
import {
  getTableConfig as pgConfig,
  index as pgIndex,
  integer as pgInteger,
  PgDialect,
  PgTable,
  pgTable,
  text as pgText,
  timestamp as pgTimestamp,
} from 'drizzle-orm/pg-core'
import {
  getTableConfig as sqliteConfig,
  index as liteIndex,
  integer as liteInteger,
  SQLiteSyncDialect,
  SQLiteTable,
  sqliteTable,
  text as liteText,
} from 'drizzle-orm/sqlite-core'
import { describe, expect, expectTypeOf, it } from 'vitest'
import * as pg from '../../src/db/schema-pg.ts'
import * as sqlite from '../../src/db/schema-sqlite.ts'

/**
 * Issue 14: `schema-pg.ts` must stay the PostgreSQL twin of `schema-sqlite.ts`. Each table is reduced,
 * through drizzle's own table introspection, to one comparable description per dialect; every
 * difference is listed as `table.column: what` so a failure says where the two files drifted.
 */

/** SQLite column (class, and mode where it matters) → the PostgreSQL columns that store the same. */
const typeTwins: Record<string, string[]> = {
  SQLiteInteger: ['PgInteger integer', 'PgBigInt53 bigint'],
  'SQLiteTimestamp timestamp_ms': ['PgTimestamp timestamp (3) with time zone'],
  SQLiteBoolean: ['PgBoolean boolean'],
  SQLiteText: ['PgText text'],
  SQLiteTextJson: ['PgJsonb jsonb'],
}

/** SQL defaults that mean the same value on both sides. */
const defaultTwins: Record<string, string> = {
  '(unixepoch() * 1000)': "date_trunc('milliseconds', now())",
  // lastAt: the integer 0 is the Unix epoch.
  '0': 'to_timestamp(0)',
}

type Side = 'sqlite' | 'pg'
const sqliteDialect = new SQLiteSyncDialect()
const pgDialect = new PgDialect()

function render(side: Side, value: SQL): string {
  return (side === 'sqlite' ? sqliteDialect : pgDialect).sqlToQuery(value).sql
}

/** The exported tables of a schema module, by export name. */
function tablesOf(module: Record<string, unknown>, kind: typeof SQLiteTable | typeof PgTable) {
  const tables = new Map<string, Table>()
  for (const [key, value] of Object.entries(module)) if (is(value, kind)) tables.set(key, value)
  return tables
}

function columnType(side: Side, column: Column): string {
  if (side === 'pg') return `${column.columnType} ${column.getSQLType()}`
  const mode = 'mode' in column && column.columnType === 'SQLiteTimestamp' ? ` ${column.mode}` : ''
  return column.columnType + mode
}

function defaultOf(side: Side, column: Column): unknown {
  if (column.defaultFn || column.onUpdateFn) return 'a $defaultFn/$onUpdateFn (compare by hand)'
  if (!is(column.default, SQL)) return column.default
  const text = render(side, column.default)
  return side === 'sqlite' ? (defaultTwins[text] ?? `unmapped SQLite default ${text}`) : text
}

/** Whether the database picks the value when an insert leaves it out. */
function autoIncrement(side: Side, column: Column): boolean {
  if (side === 'pg')
    return column.generatedIdentity !== undefined || column.columnType === 'PgSerial'
  return 'autoIncrement' in column && column.autoIncrement === true
}

function describeTable(side: Side, table: Table) {
  const config = side === 'sqlite' ? sqliteConfig(table as SQLiteTable) : pgConfig(table as PgTable)
  const name = (c: Column | SQL | { name?: string }) =>
    is(c, SQL) ? `sql:${render(side, c)}` : String(c.name)
  const columns = new Map<string, Record<string, unknown>>()
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    const auto = autoIncrement(side, column)
    columns.set(column.name, {
      property: key,
      type: columnType(side, column),
      dataType: column.dataType,
      notNull: column.notNull,
      // SQLite marks every integer primary key (a rowid alias) as having a default; compare what
      // the schema asked for instead: autoincrement or a declared default.
      hasDefault: side === 'sqlite' && column.primary ? auto : column.hasDefault,
      autoIncrement: auto,
      default: defaultOf(side, column),
      unique: column.isUnique ? (column.uniqueName ?? true) : false,
      enum: column.enumValues ?? null,
    })
  }
  const primaryKey = [
    ...config.columns.filter((c) => c.primary).map((c) => c.name),
    ...config.primaryKeys.flatMap((pk) => pk.columns.map((c) => c.name)),
  ]
  const indexes = new Map<string, Record<string, unknown>>()
  for (const { config: index } of config.indexes) {
    indexes.set(index.name ?? '(unnamed)', {
      columns: index.columns.map(name),
      unique: index.unique ?? false,
      where: index.where ? render(side, index.where) : null,
    })
  }
  const foreignKeys = new Map<string, Record<string, unknown>>()
  for (const fk of config.foreignKeys) {
    const ref = fk.reference()
    const to = `${getTableName(ref.foreignTable)}(${ref.foreignColumns.map(name).join(', ')})`
    foreignKeys.set(`(${ref.columns.map(name).join(', ')}) → ${to}`, {
      onDelete: fk.onDelete ?? 'no action',
      onUpdate: fk.onUpdate ?? 'no action',
    })
  }
  const uniques = new Map<string, Record<string, unknown>>()
  for (const u of config.uniqueConstraints) {
    uniques.set(u.getName() ?? '(unnamed)', { columns: u.columns.map(name) })
  }
  const checks = new Map(config.checks.map((c) => [c.name, {}]))
  return { columns, primaryKey, indexes, foreignKeys, uniques, checks }
}

type Description = Map<string, Record<string, unknown>>

/** `where: what` for each entry only one side has or whose fields differ. */
function compare(where: string, a: Description, b: Description): string[] {
  const out: string[] = []
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const s = a.get(key)
    const p = b.get(key)
    if (!p) out.push(`${where}${key}: only in schema.ts`)
    else if (!s) out.push(`${where}${key}: only in schema-pg.ts`)
    else {
      for (const field of new Set([...Object.keys(s), ...Object.keys(p)])) {
        const [sv, pv] = [s[field], p[field]]
        if (field === 'type') {
          if (!(typeTwins[String(sv)] ?? []).includes(String(pv))) {
            out.push(`${where}${key}: type ${sv} has no twin ${pv} (see typeTwins)`)
          }
        } else if (JSON.stringify(sv) !== JSON.stringify(pv)) {
          const show = (v: unknown) => JSON.stringify(v)
          out.push(
            `${where}${key}: ${field} is ${show(sv)} in schema.ts, ${show(pv)} in schema-pg.ts`,
          )
        }
      }
    }
  }
  return out
}

/** Every difference between the SQLite and PostgreSQL definitions of the same tables. */
function schemaDifferences(
  sqliteModule: Record<string, unknown>,
  pgModule: Record<string, unknown>,
): string[] {
  const lite = tablesOf(sqliteModule, SQLiteTable)
  const post = tablesOf(pgModule, PgTable)
  const out: string[] = []
  for (const key of new Set([...lite.keys(), ...post.keys()])) {
    const s = lite.get(key)
    const p = post.get(key)
    if (!s || !p) {
      out.push(`export ${key}: a table only in ${s ? 'schema.ts' : 'schema-pg.ts'}`)
      continue
    }
    const table = getTableName(s)
    if (getTableName(p) !== table) out.push(`export ${key}: ${table} vs ${getTableName(p)}`)
    const [ds, dp] = [describeTable('sqlite', s), describeTable('pg', p)]
    out.push(...compare(`${table}.`, ds.columns, dp.columns))
    if (ds.primaryKey.join() !== dp.primaryKey.join()) {
      out.push(`${table}: primary key (${ds.primaryKey}) vs (${dp.primaryKey}) in schema-pg.ts`)
    }
    out.push(...compare(`${table} index `, ds.indexes, dp.indexes))
    out.push(...compare(`${table} foreign key `, ds.foreignKeys, dp.foreignKeys))
    out.push(...compare(`${table} unique `, ds.uniques, dp.uniques))
    out.push(...compare(`${table} check `, ds.checks, dp.checks))
  }
  return out
}

/** Row types per exported table, so the compiler compares what the query modules will see. */
type Rows<M> = {
  [K in keyof M]: M[K] extends Table ? M[K]['$inferSelect'] : never
}

/**
 * Insert types per exported table. SQLite lets an integer primary key (a rowid alias) be left
 * out even where it is really a foreign key; PostgreSQL rightly requires it, so those are skipped.
 */
type RowidAliases = {
  scheduleState: 'policyId'
  tenantHealth: 'tenantId'
  backupTokens: 'tenantId'
}
type Inserts<M> = {
  [K in keyof M]: M[K] extends Table
    ? Omit<M[K]['$inferInsert'], K extends keyof RowidAliases ? RowidAliases[K] : never>
    : never
}

describe('schema-pg.ts matches schema.ts', () => {
  it('has the same tables, columns, keys, indexes and foreign keys', () => {
    expect(schemaDifferences(sqlite, pg)).toEqual([])
  })

  it('reads and inserts the same row types (checked by tsc)', () => {
    expectTypeOf<Rows<typeof pg>>().toEqualTypeOf<Rows<typeof sqlite>>()
    expectTypeOf<Inserts<typeof pg>>().toEqualTypeOf<Inserts<typeof sqlite>>()
  })

  // The comparison itself, on a two-table schema with one drift at a time.
  const base = {
    owners: pgTable('owners', { id: pgInteger('id').primaryKey().generatedByDefaultAsIdentity() }),
  }
  const pgItems = (drift: string) =>
    pgTable(
      'items',
      {
        id: pgInteger('id').primaryKey().generatedByDefaultAsIdentity(),
        ownerId: pgInteger('owner_id').references(() => base.owners.id, {
          onDelete: drift === 'onDelete' ? 'set null' : 'cascade',
        }),
        label: drift === 'type' ? pgInteger('label') : pgText('label').notNull(),
        ...(drift === 'column' ? { note: pgText('note') } : {}),
        at: pgTimestamp('at', { mode: 'date', withTimezone: drift !== 'zone', precision: 3 }),
      },
      (t) => (drift === 'index' ? [] : [pgIndex('items_owner_idx').on(t.ownerId)]),
    )
  const liteOwners = sqliteTable('owners', {
    id: liteInteger('id').primaryKey({ autoIncrement: true }),
  })
  const liteItems = sqliteTable(
    'items',
    {
      id: liteInteger('id').primaryKey({ autoIncrement: true }),
      ownerId: liteInteger('owner_id').references(() => liteOwners.id, { onDelete: 'cascade' }),
      label: liteText('label').notNull(),
      at: liteInteger('at', { mode: 'timestamp_ms' }),
    },
    (t) => [liteIndex('items_owner_idx').on(t.ownerId)],
  )
  it.each([
    ['none', []],
    ['column', ['items.note: only in schema-pg.ts']],
    [
      'type',
      [
        'items.label: type SQLiteText has no twin PgInteger integer (see typeTwins)',
        'items.label: dataType is "string" in schema.ts, "number" in schema-pg.ts',
        'items.label: notNull is true in schema.ts, false in schema-pg.ts',
      ],
    ],
    [
      'zone',
      [
        'items.at: type SQLiteTimestamp timestamp_ms has no twin PgTimestamp timestamp (3) (see typeTwins)',
      ],
    ],
    ['index', ['items index items_owner_idx: only in schema.ts']],
    [
      'onDelete',
      [
        'items foreign key (owner_id) → owners(id): onDelete is "cascade" in schema.ts, "set null" in schema-pg.ts',
      ],
    ],
  ])('reports drift %s by table and column', (drift, expected) => {
    const lite = { owners: liteOwners, items: liteItems }
    expect(schemaDifferences(lite, { ...base, items: pgItems(drift) })).toEqual(expected)
  })
})
