// A confirmation dialog for actions that change something: title, text,
// extra input fields, and a reason. Resolves to the field values (with
// "reason") or null when cancelled.
import {h, replace} from './dom.js';

export function confirmAction({title, text, fields = [], confirmLabel = 'Confirm'}) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = confirmLabel;
  const reason = document.getElementById('confirm-reason');
  reason.value = '';
  const inputs = fields.map((f) => {
    const input = h('input', {
      name: f.name, type: f.type ?? 'text', required: f.required, placeholder: f.placeholder,
      autocomplete: 'off', pattern: f.pattern, min: f.min, max: f.max});
    return {f, input, label: h('label', {class: 'field'}, f.label, input)};
  });
  replace(document.getElementById('confirm-fields'), inputs.map((i) => i.label));
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (dialog.returnValue !== 'confirm') {
        resolve(null);
        return;
      }
      const values = {};
      if (reason.value.trim()) values.reason = reason.value.trim();
      for (const {f, input} of inputs) {
        if (f.type === 'checkbox') values[f.name] = input.checked;
        else if (input.value !== '') values[f.name] = f.number ? Number(input.value) : input.value;
      }
      resolve(values);
    }, {once: true});
    dialog.returnValue = '';
    dialog.showModal();
    (inputs[0]?.input ?? reason).focus();
  });
}
