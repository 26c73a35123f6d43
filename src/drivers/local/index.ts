import { settings } from './settings.ts'

export const local = {
  label: 'Local',
  description: 'This server’s backup storage. Fast to restore; keep a remote copy too.',
  settings,
}
