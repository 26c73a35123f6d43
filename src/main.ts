import { runCli } from './cli/index.ts'

/** Process entry for `panel serve`, `panel runner` and the CLI verbs. */
process.exitCode = await runCli(process.argv.slice(2))
