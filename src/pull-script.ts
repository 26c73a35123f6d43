import { readFileSync } from 'node:fs'
import { inProject } from './project-root.ts'

/** The example address in public/panel-pull.sh (and the README's copy of it). */
const EXAMPLE_URL = 'https://panel.example.com'

/** public/panel-pull.sh, read once: the README shows the same script (a test keeps them equal). */
const SCRIPT = readFileSync(inProject('public', 'panel-pull.sh'), 'utf8')

/** The pull script with `panelUrl` in place of the example address. */
export function pullScript(panelUrl: string): string {
  return SCRIPT.replaceAll(EXAMPLE_URL, panelUrl)
}

/**
 * The script's settings file (`~/.config/panel-pull.env`): the panel's address filled in, the
 * key and token as placeholders to replace. The script reads plain `NAME=value` lines only.
 */
export function pullSettings(panelUrl: string, destinationId?: number): string {
  return [
    `PANEL_URL=${panelUrl}`,
    'PANEL_API_KEY=pk_…',
    'PANEL_BACKUP_TOKEN=bt_…',
    ...(destinationId === undefined ? [] : [`PANEL_DESTINATION=${destinationId}`]),
    'BACKUP_DIR=/var/backups/panel',
    'KEEP=7',
    '',
  ].join('\n')
}

/** The crontab line: daily at 04:30, appending to a log. */
export const PULL_CRON = '30 4 * * *  /usr/local/bin/panel-pull >>/var/log/panel-pull.log 2>&1'
