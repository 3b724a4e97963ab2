// Progressive enhancement only: every form and link works without this file.
(() => {
  // Copy buttons beside read-only fields marked data-copy (e.g. checkout links).
  for (const input of document.querySelectorAll('input[data-copy]')) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.textContent = 'Copy link';
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(input.value);
      } catch {
        input.select();
        document.execCommand('copy');
      }
      button.textContent = 'Copied';
      setTimeout(() => (button.textContent = 'Copy link'), 2000);
    });
    input.closest('.copy')?.append(button);
  }

  // Forms that change something important ask first.
  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // "Select all" checkboxes for lists such as the events to replay.
  for (const all of document.querySelectorAll('input[data-select-all]')) {
    all.addEventListener('change', () => {
      const form = all.closest('form');
      for (const box of form.querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`))
        box.checked = all.checked;
    });
  }
})();
