// The portal's one script: reveal and copy a secret shown once. Everything else is plain HTML.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-reveal], button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.reveal || button.dataset.copy);
  if (!field) return;
  if (button.dataset.reveal) {
    const hidden = field.type === "password";
    field.type = hidden ? "text" : "password";
    button.textContent = hidden ? "Hide" : "Reveal";
    return;
  }
  const done = () => { const note = document.getElementById("copied"); if (note) note.hidden = false; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => {});
  } else {
    const type = field.type;
    field.type = "text"; field.select(); document.execCommand("copy"); field.type = type; done();
  }
});
