import { describe, expect, it } from 'vitest'
import { addressAllowed, resolveChecked } from '../../src/drivers/guard.ts'

const none = { allow: [] }

describe('outbound guard', () => {
  it.each([
    '169.254.169.254',
    '127.0.0.1',
    '10.1.2.3',
    '192.168.1.1',
    '172.20.0.1',
    '100.64.0.1',
    '::1',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '0.0.0.0',
  ])('refuses %s', async (ip) => {
    await expect(resolveChecked(none, ip)).rejects.toThrow(/not allowed/)
  })

  it.each(['2130706433', '0x7f000001', '017700000001', '127.1'])(
    'refuses the numeric form %s',
    async (host) => {
      await expect(resolveChecked(none, host)).rejects.toThrow(/not a host name|not allowed/)
    },
  )

  it('refuses [::1] written as a URL host', async () => {
    await expect(resolveChecked(none, '[::1]')).rejects.toThrow(/not allowed/)
  })

  it('refuses a name that resolves to loopback', async () => {
    await expect(resolveChecked(none, 'localhost')).rejects.toThrow(/resolves to .*not allowed/)
  })

  it('allows public addresses and admin-allowlisted hosts or ranges', async () => {
    expect(addressAllowed(none, 'x', '93.184.216.34')).toBe(true)
    await expect(resolveChecked({ allow: ['127.0.0.0/8'] }, '127.0.0.1')).resolves.toMatchObject({
      address: '127.0.0.1',
    })
    await expect(resolveChecked({ allow: ['localhost'] }, 'localhost')).resolves.toBeTruthy()
    expect(addressAllowed({ allow: ['10.0.0.0/24'] }, 'x', '10.0.1.1')).toBe(false)
  })

  it('says when a name does not exist', async () => {
    await expect(resolveChecked(none, 'no-such-host.invalid')).rejects.toThrow(/could not be found/)
  })
})
