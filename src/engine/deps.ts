import type { Config } from '../config.ts'
import type { Db } from '../db/client.ts'
import type { Registry } from '../drivers/registry.ts'

/** What every engine function is given: the database, the configuration, the driver registry. */
export type EngineDeps = { db: Db; config: Config; drivers: Registry }
