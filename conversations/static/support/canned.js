// Canned replies: choosing one inserts its text at the cursor of the reply box, to edit before sending.
document.addEventListener("change", (event) => {
  const picker = event.target;
  if (!picker.matches || !picker.matches("select.rt-canned")) return;
  const option = picker.selectedOptions[0];
  const box = document.getElementById(picker.dataset.target);
  if (!option || !option.value || !box) return;
  const text = option.dataset.body;
  const start = box.selectionStart ?? box.value.length;
  const end = box.selectionEnd ?? box.value.length;
  box.value = box.value.slice(0, start) + text + box.value.slice(end);
  box.focus();
  box.selectionStart = box.selectionEnd = start + text.length;
  picker.value = "";
});
