// Progressive enhancement only: every form also works without this file.
document.addEventListener('change', (event) => {
  const select = event.target
  if (!(select instanceof HTMLSelectElement) || select.name !== 'preset') return
  const cron = select.form?.querySelector('input[name="cron"]')
  const option = select.selectedOptions[0]
  if (cron && option?.dataset.cron) cron.value = option.dataset.cron
  if (cron && select.value === 'custom') cron.focus()
})

// Typing a cron expression switches the preset to "Custom".
document.addEventListener('input', (event) => {
  const input = event.target
  if (!(input instanceof HTMLInputElement) || input.name !== 'cron') return
  const preset = input.form?.querySelector('select[name="preset"]')
  if (preset && preset.selectedOptions[0]?.dataset.cron !== input.value) preset.value = 'custom'
})

// Errors htmx does not swap (403, 404, 409, 500) appear as a toast in plain words.
document.addEventListener('htmx:responseError', (event) => {
  const xhr = event.detail.xhr
  const text = new DOMParser().parseFromString(xhr.responseText, 'text/html').body.textContent?.trim()
  let toast = document.getElementById('toast')
  if (!toast) {
    toast = document.createElement('div')
    toast.id = 'toast'
    document.body.append(toast)
  }
  const box = document.createElement('div')
  box.className = 'flash flash-error'
  box.setAttribute('role', 'alert')
  box.textContent = text || `The panel answered with an error (${xhr.status}).`
  toast.replaceChildren(box)
})

// The panel never sends a secret back, so a form htmx swaps in (Test connection, a field error)
// arrives with its secret fields blank: put back what was typed in this page, or pressing Save
// after a passing test would store the destination without its password.
let typedSecrets = null
document.addEventListener('htmx:beforeSwap', (event) => {
  const form = event.detail.target
  if (!(form instanceof HTMLFormElement)) return
  const values = [...form.querySelectorAll('[data-secret]')].filter((el) => el.value).map((el) => [el.name, el.value])
  typedSecrets = values.length ? { action: form.getAttribute('action'), values } : null
})
document.addEventListener('htmx:afterSwap', () => {
  if (!typedSecrets) return
  const { action, values } = typedSecrets
  typedSecrets = null
  const form = [...document.querySelectorAll('form')].find((f) => f.getAttribute('action') === action)
  for (const [name, value] of values) {
    const el = form?.querySelector(`[data-secret][name="${CSS.escape(name)}"]`)
    if (el && !el.value) el.value = value
  }
})
