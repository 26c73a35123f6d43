import { eq } from 'drizzle-orm'
import type { Db } from './client.ts'
import { users, type User } from './schema.ts'

export function findUserByName(db: Db, username: string): User | undefined {
  return db.select().from(users).where(eq(users.username, username)).get()
}

export function firstAdmin(db: Db): User | undefined {
  return db.select().from(users).where(eq(users.role, 'admin')).orderBy(users.id).get()
}

export function insertAdmin(db: Db, username: string, passwordHash: string | null): User {
  return db.insert(users).values({ username, passwordHash, role: 'admin' }).returning().get()
}

export function setPasswordHash(db: Db, userId: number, passwordHash: string): void {
  db.update(users).set({ passwordHash }).where(eq(users.id, userId)).run()
}
