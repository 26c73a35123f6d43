import type { Command } from './command.ts'
import { UsageError, readStdin } from './io.ts'
import { hashPassword, passwordProblem } from '../auth/password.ts'
import { findUserByName, insertAdmin } from '../db/users.ts'
import { createLoginLink } from '../auth/login-link.ts'
import { tenantNameProblem } from '../names.ts'
import { InputError } from '../errors.ts'
import { auditCli } from './audit.ts'

export const adminCommands: Record<string, Command> = {
  'admin create': {
    usage: 'admin create <name> --password-stdin',
    options: { 'password-stdin': { type: 'boolean' } },
    async run({ db }, [name], opts) {
      if (!name) throw new UsageError('give the admin name')
      if (!opts['password-stdin'])
        throw new UsageError('pass the password on stdin with --password-stdin')
      const problem = tenantNameProblem(name)
      if (problem) throw new InputError({ name: problem })
      if (await findUserByName(db, name))
        throw new InputError({ name: `“${name}” is already taken.` })
      const password = await readStdin()
      const pw = passwordProblem(password)
      if (pw) throw new InputError({ password: pw })
      await insertAdmin(db, name, await hashPassword(password))
      await auditCli(db, 'admin.create', { target: name })
      console.log(`Admin "${name}" created.`)
    },
  },
  'admin link': {
    usage: 'admin link [<name>]   (prints a one-time sign-in link)',
    options: {},
    async run({ db, baseUrl }, [name = 'admin']) {
      const user = await findUserByName(db, name)
      if (!user || user.role !== 'admin')
        throw new InputError({ name: `No admin named “${name}”.` })
      const link = await createLoginLink(db, user.id)
      // The link is a credential: the log says one was made, never what it is.
      await auditCli(db, 'admin.link', { target: name })
      console.log(`${baseUrl}/login/link/${link}`)
    },
  },
}
