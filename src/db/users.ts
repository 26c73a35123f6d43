import { eq } from 'drizzle-orm'
import type { Db } from './client.ts'
import { users, type User } from './schema.ts'

export async function findUserByName(db: Db, username: string): Promise<User | undefined> {
  return (await db.select().from(users).where(eq(users.username, username)))[0]
}

export async function firstAdmin(db: Db): Promise<User | undefined> {
  return (await db.select().from(users).where(eq(users.role, 'admin')).orderBy(users.id))[0]
}

export async function insertAdmin(
  db: Db,
  username: string,
  passwordHash: string | null,
): Promise<User> {
  return (await db.insert(users).values({ username, passwordHash, role: 'admin' }).returning())[0]
}

export async function setPasswordHash(db: Db, userId: number, passwordHash: string): Promise<void> {
  await db.update(users).set({ passwordHash }).where(eq(users.id, userId))
}
