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
