// The sandbox page: persona list, clock control and a Telegram-like chat, polling /api.
// A persona on Zalo (channel "zalo") gets Zalo's look: a blue header, plain text, the bot's
// choices as numbered lines to answer by typing, no buttons and no menu keyboard.
// Message HTML comes from the server already escaped (sandbox/app.py render_text); every
// other string is put in the page with textContent.
"use strict";

(() => {
  const POLL_MS = 500;
  const TYPING_MS = 5000;
  const $ = (id) => document.getElementById(id);

  const ui = {
    personaList: $("persona-list"),
    messages: $("messages"),
    replyKb: $("reply-kb"),
    kbToggle: $("kb-toggle"),
    composer: $("composer"),
    input: $("composer-input"),
    file: $("file-input"),
    me: $("me"),
    botName: $("bot-name"),
    chatStatus: $("chat-status"),
    phone: document.querySelector(".phone"),
    channelBadge: $("channel-badge"),
    attach: document.querySelector(".attach"),
    clock: document.querySelector(".clock"),
    clockLabel: $("clock-label"),
    clockForm: $("clock-form"),
    clockInput: $("clock-input"),
    clockPresets: $("clock-presets"),
    clockStatus: $("clock-status"),
    toast: $("toast"),
  };

  const state = {
    personas: [],
    active: null,
    etag: null,
    rendered: new Map(), // message id -> {el, rev}
    keyboard: null,
    keyboardOpen: true,
    waitingSince: 0,
    lastBotRev: "",
    clock: null,
    busy: false,
  };

  // Moments worth jumping to in the demo (the March report: last day Saturday 12/03/2022).
  const PRESETS = [
    ["09/03 08:00", "nhắc hạn"],
    ["14/03 08:00", "quá hạn"],
    ["16/03 08:00", "cơ quan tổng hợp"],
    ["21/03 08:00", "Trưởng ban"],
  ];

  // ------------------------------------------------------------------ helpers

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const message = (data && data.error) || `Lỗi ${resp.status}`;
      const error = new Error(message);
      error.status = resp.status;
      throw error;
    }
    return data;
  }

  let toastTimer = 0;
  function toast(text, isError) {
    if (!text) return;
    ui.toast.textContent = text;
    ui.toast.classList.toggle("error", !!isError);
    ui.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { ui.toast.hidden = true; }, isError ? 5000 : 3000);
  }

  function initials(name) {
    const parts = name.trim().split(/\s+/);
    const last = parts[parts.length - 1] || "?";
    const first = parts.length > 1 ? parts[0] : "";
    return ((first[0] || "") + (last[0] || "")).toUpperCase();
  }

  function downloadIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const box = el("div", "doc-icon");
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M12 4v12m-5-5l5 5 5-5M5 20h14");
    svg.append(path);
    box.append(svg);
    return box;
  }

  function colorClass(index) { return "c" + (index % 6); }

  function humanSize(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1).replace(".", ",")} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1).replace(".", ",")} MB`;
  }

  function activePersona() {
    return state.personas.find((p) => p.key === state.active) || null;
  }

  function onZalo() {
    const p = activePersona();
    return !!p && p.channel === "zalo";
  }

  // The chat's look follows the persona's channel.
  function renderChannel() {
    const zalo = onZalo();
    ui.phone.classList.toggle("zalo", zalo);
    ui.phone.dataset.channel = zalo ? "zalo" : "telegram";
    ui.channelBadge.textContent = zalo ? "Zalo" : "Telegram";
    ui.input.placeholder = zalo ? "Nhập tin nhắn hoặc số của lựa chọn…" : "Tin nhắn";
    ui.attach.title = zalo ? "Gửi ảnh (Zalo chỉ chuyển ảnh cho bot, không chuyển tệp)"
      : "Gửi tệp (PDF, Word, ảnh…)";
    setTyping(false);
  }

  // ------------------------------------------------------------------ personas

  function renderPersonas() {
    const list = ui.personaList;
    const existing = new Map([...list.children].map((li) => [li.dataset.persona, li]));
    state.personas.forEach((p, index) => {
      let li = existing.get(p.key);
      if (!li) {
        li = el("li", "persona" + (p.channel === "zalo" ? " on-zalo" : ""));
        li.dataset.persona = p.key;
        li.tabIndex = 0;
        li.setAttribute("role", "button");
        const avatar = el("div", "avatar " + colorClass(index), initials(p.name));
        const body = el("div", "persona-body");
        const top = el("div", "persona-top");
        const name = el("span", "persona-name", p.name);
        if (p.channel === "zalo") name.append(el("span", "channel-tag", "Zalo"));
        top.append(name, el("span", "persona-time"));
        const sub = el("div", "persona-sub", `${p.title} · ${p.agency_label}`);
        const bottom = el("div", "persona-bottom");
        bottom.append(el("span", "persona-preview"), el("span", "badge"));
        body.append(top, sub, bottom);
        li.append(avatar, body);
        li.addEventListener("click", () => selectPersona(p.key));
        li.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); selectPersona(p.key); }
        });
        list.append(li);
      }
      li.classList.toggle("active", p.key === state.active);
      li.querySelector(".persona-time").textContent = p.last_time || "";
      li.querySelector(".persona-preview").textContent = p.preview || p.hint;
      const badge = li.querySelector(".badge");
      const unread = p.key === state.active ? 0 : p.unread;
      badge.textContent = unread > 99 ? "99+" : String(unread);
      badge.hidden = !unread;
      li.title = `${p.title}: ${p.about}`;
    });
  }

  function renderMe() {
    const p = activePersona();
    ui.me.textContent = "";
    if (!p) return;
    ui.me.append(el("b", "", p.name), document.createTextNode(p.title));
  }

  function selectPersona(key) {
    if (key === state.active) return;
    state.active = key;
    state.etag = null;
    state.rendered.clear();
    state.keyboard = null;
    state.waitingSince = 0;
    ui.messages.textContent = "";
    ui.replyKb.hidden = true;
    if (location.hash !== "#" + key) history.replaceState(null, "", "#" + key);
    renderPersonas();
    renderChannel();
    renderMe();
    renderIntro();
    setTyping(false);
    refreshMessages(true);
    ui.input.focus();
  }

  function renderIntro() {
    const p = activePersona();
    if (!p) return;
    const box = el("div", "service intro");
    box.dataset.intro = "1";
    box.append(el("b", "", `Bạn đang là ${p.name} — ${p.title} (${p.agency_label})`));
    box.append(el("div", "", p.about));
    box.append(el("div", "hint", "Gợi ý: " + p.hint));
    if (p.channel === "zalo") {
      box.append(el("div", "zalo-note", "Khung chat Zalo: bot không có nút bấm; mỗi lựa chọn "
        + "là một dòng đánh số (1, 2, … hoặc a, b, … khi bot chờ câu trả lời). Gõ số hoặc tên "
        + "lựa chọn để chọn, «menu» để về danh sách chính."));
    }
    ui.messages.prepend(box);
  }

  // ------------------------------------------------------------------ messages

  function nearBottom() {
    const m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 120;
  }

  function scrollToBottom() { ui.messages.scrollTop = ui.messages.scrollHeight; }

  function buildMessage(msg, showDay) {
    const wrap = el("div", "msg-wrap");
    wrap.dataset.id = String(msg.id);
    if (showDay && msg.day) wrap.append(el("div", "service day", msg.day));
    const row = el("div", "row msg " + (msg.from_bot ? "in bot" : "out user"));
    row.dataset.id = String(msg.id);
    if (msg.edited) row.classList.add("is-edited");
    const bubble = el("div", "bubble");

    if (msg.photo) {
      const link = el("a", "photo-open");
      link.href = `/api/files/${encodeURIComponent(msg.photo.file_id)}?download=1`;
      link.title = "Tải ảnh xuống";
      const img = el("img", "photo");
      img.src = `/api/files/${encodeURIComponent(msg.photo.file_id)}`;
      img.alt = "Ảnh";
      img.loading = "lazy";
      img.addEventListener("load", () => { if (nearBottom()) scrollToBottom(); });
      link.append(img);
      bubble.append(link);
    }
    if (msg.document) {
      const doc = el("a", "doc");
      doc.href = `/api/files/${encodeURIComponent(msg.document.file_id)}?download=1`;
      doc.setAttribute("download", msg.document.name);
      doc.title = "Tải xuống";
      doc.append(downloadIcon());
      const info = el("div", "");
      info.append(el("div", "doc-name", msg.document.name));
      info.append(el("div", "doc-size", `${humanSize(msg.document.size)} · tải xuống`));
      doc.append(info);
      bubble.append(doc);
    }
    if (msg.image) {
      // Zalo: a picture is a URL (the sandbox's own for what the persona sent).
      if (msg.image.local) {
        const img = el("img", "photo");
        img.src = msg.image.url;
        img.alt = "Ảnh";
        img.loading = "lazy";
        img.addEventListener("load", () => { if (nearBottom()) scrollToBottom(); });
        bubble.append(img);
      } else {
        const a = el("a", "photo-link", "🖼 " + msg.image.url);
        a.href = msg.image.url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        bubble.append(a);
      }
    }
    if (msg.withheld) {
      const box = el("div", "withheld");
      box.append(el("div", "doc-name", "📄 " + msg.withheld.name));
      box.append(el("div", "doc-size", msg.withheld.note));
      bubble.append(box);
    }
    if (msg.sticker) bubble.append(el("div", "sticker", msg.sticker));
    if (msg.html) {
      const text = el("div", "text");
      text.innerHTML = msg.html; // escaped and limited to safe tags by the server
      bubble.append(text);
    }
    const meta = el("span", "meta");
    if (msg.edited) meta.append(el("span", "edited", "đã sửa"));
    meta.append(document.createTextNode(msg.time + (msg.from_bot || onZalo() ? "" : " ✓✓")));
    if (bubble.lastElementChild && bubble.lastElementChild.classList.contains("text")) {
      bubble.lastElementChild.append(meta);
    } else {
      bubble.append(meta);
    }
    const stack = el("div", "stack");
    stack.append(bubble);
    row.append(stack);

    if (msg.buttons && msg.buttons.length) {
      const kb = el("div", "ikb");
      for (const rowButtons of msg.buttons) {
        const r = el("div", "ikb-row");
        for (const b of rowButtons) {
          if (b.url) {
            const a = el("a", "", b.text + " ↗");
            a.href = b.url;
            a.target = "_blank";
            a.rel = "noopener noreferrer";
            r.append(a);
          } else {
            const button = el("button", "", b.text);
            button.type = "button";
            button.dataset.data = b.data || "";
            button.addEventListener("click", () => press(msg.id, b.data || "", button));
            r.append(button);
          }
        }
        kb.append(r);
      }
      stack.append(kb);
    }
    wrap.append(row);
    return wrap;
  }

  function renderMessages(messages) {
    const stick = nearBottom();
    const seen = new Set();
    let previousDay = null;
    let anchor = ui.messages.querySelector("[data-intro]");
    let newBot = false;
    messages.forEach((msg) => {
      const showDay = msg.day !== previousDay;
      previousDay = msg.day;
      const rev = JSON.stringify([msg, showDay]);
      seen.add(msg.id);
      const known = state.rendered.get(msg.id);
      if (known && known.rev === rev) {
        anchor = known.el;
        return;
      }
      const node = buildMessage(msg, showDay);
      if (known) {
        known.el.replaceWith(node);
      } else if (anchor) {
        anchor.after(node);
      } else {
        ui.messages.prepend(node);
      }
      if (msg.from_bot) newBot = true;
      state.rendered.set(msg.id, { el: node, rev });
      anchor = node;
    });
    for (const [id, info] of state.rendered) {
      if (!seen.has(id)) { info.el.remove(); state.rendered.delete(id); }
    }
    if (newBot) setTyping(false);
    if (stick) scrollToBottom();
  }

  function renderKeyboard(rows) {
    if (onZalo()) rows = null; // Zalo has no menu keyboard: the menu is a numbered list
    state.keyboard = rows;
    ui.kbToggle.hidden = !rows;
    ui.kbToggle.classList.toggle("on", state.keyboardOpen);
    const kb = ui.replyKb;
    const signature = JSON.stringify(rows);
    if (kb.dataset.signature !== signature) {
      kb.dataset.signature = signature;
      kb.textContent = "";
      for (const row of rows || []) {
        const r = el("div", "rkb-row");
        for (const label of row) {
          const b = el("button", "", label);
          b.type = "button";
          b.addEventListener("click", () => sendText(label));
          r.append(b);
        }
        kb.append(r);
      }
    }
    const stick = nearBottom();
    kb.hidden = !rows || !state.keyboardOpen;
    if (stick) scrollToBottom();
  }

  function setTyping(on) {
    state.waitingSince = on ? Date.now() : 0;
    ui.chatStatus.textContent = on ? "đang trả lời…" : (onZalo() ? "bot · trên Zalo" : "bot");
    ui.chatStatus.classList.toggle("typing", on);
  }

  async function refreshMessages(markRead) {
    const key = state.active;
    if (!key) return;
    const headers = {};
    if (state.etag) headers["If-None-Match"] = state.etag;
    const resp = await fetch(`/api/personas/${encodeURIComponent(key)}/messages${markRead ? "?read=1" : ""}`, { headers });
    if (key !== state.active) return;
    if (resp.status === 304) return;
    if (!resp.ok) throw new Error(`Lỗi ${resp.status}`);
    state.etag = resp.headers.get("ETag");
    const data = await resp.json();
    if (key !== state.active) return;
    renderMessages(data.messages);
    renderKeyboard(data.reply_keyboard);
  }

  // ------------------------------------------------------------------ actions

  // Returns whether the text was accepted: a refused one (too long) stays in the box.
  async function sendText(text) {
    const value = (text || "").trim();
    if (!value || !state.active) return true;
    try {
      await api("POST", `/api/personas/${encodeURIComponent(state.active)}/text`, { text: value });
      setTyping(true);
      await refreshMessages(true);
      scrollToBottom();
      return true;
    } catch (e) {
      toast(e.message, true);
      return false;
    }
  }

  async function press(messageId, data, button) {
    if (onZalo()) { toast("Zalo không có nút bấm: gõ số của lựa chọn.", true); return; }
    button.disabled = true;
    setTyping(true);
    try {
      const result = await api("POST", `/api/personas/${encodeURIComponent(state.active)}/press`,
        { message_id: messageId, data });
      if (result.toast) toast(result.toast, false);
      await refreshMessages(true);
    } catch (e) {
      setTyping(false);
      toast(e.status === 409 ? "Nút này không còn hiệu lực." : e.message, true);
    } finally {
      button.disabled = false;
    }
  }

  async function upload(file) {
    if (!file || !state.active) return;
    const form = new FormData();
    form.append("file", file, file.name);
    const caption = ui.input.value.trim();
    if (caption) form.append("caption", caption);
    try {
      const sent = await api("POST", `/api/personas/${encodeURIComponent(state.active)}/upload`, form);
      if (sent && sent.note) toast(sent.note, false);
      ui.input.value = "";
      setTyping(true);
      await refreshMessages(true);
      scrollToBottom();
    } catch (e) {
      toast(e.message, true);
    }
  }

  // An invite link t.me/<bot>?start=CODE opens the bot as the newcomer, as on a phone.
  function inviteCode(href) {
    const bot = state.bot && state.bot.username;
    const match = /^https?:\/\/t\.me\/([A-Za-z0-9_]+)\?start=([A-Za-z0-9_-]+)$/.exec(href || "");
    if (!match || (bot && match[1] !== bot)) return null;
    return match[2];
  }

  async function openInvite(code) {
    const target = state.personas.find((p) => p.key === "newcomer") ? "newcomer" : state.active;
    selectPersona(target);
    toast(`Mở liên kết mời với vai «${activePersona().name}»`, false);
    await sendText(`/start ${code}`);
  }

  // ------------------------------------------------------------------ clock

  function renderClock(clock) {
    state.clock = clock;
    ui.clockLabel.textContent = clock.label;
    ui.clockLabel.dataset.iso = clock.iso;
    const now = new Date(clock.iso);
    ui.clockPresets.textContent = "";
    for (const [at, what] of PRESETS) {
      const [d, m] = at.split(" ")[0].split("/").map(Number);
      const [hh, mm] = at.split(" ")[1].split(":").map(Number);
      const moment = new Date(Date.UTC(now.getUTCFullYear(), m - 1, d, hh - 7, mm));
      if (moment <= now) continue;
      const b = el("button", "", `${at.slice(0, 5)} ${what}`);
      b.title = `Đến ${at}`;
      b.type = "button";
      b.dataset.at = at;
      b.addEventListener("click", () => moveClock("/api/clock/set", { at }));
      ui.clockPresets.append(b);
    }
  }

  async function moveClock(path, body) {
    if (state.busy) return;
    state.busy = true;
    ui.clock.classList.add("busy");
    ui.clockStatus.classList.remove("error");
    ui.clockStatus.textContent = "Đang chạy quét nhắc hạn…";
    try {
      const result = await api("POST", path, body);
      renderClock(result.clock);
      const s = result.sweep;
      const what = s.written ? `${s.written} tin nhắn mới được xếp hàng gửi` : "không có tin nhắn mới";
      ui.clockStatus.textContent = `Đã quét ${s.sweeps} lần tới ${result.clock.short}: ${what}.`;
      await refreshPersonas();
    } catch (e) {
      ui.clockStatus.classList.add("error");
      ui.clockStatus.textContent = e.message;
    } finally {
      state.busy = false;
      ui.clock.classList.remove("busy");
    }
  }

  // ------------------------------------------------------------------ polling

  async function refreshPersonas() {
    const data = await api("GET", "/api/personas");
    state.personas = data.personas;
    state.bot = data.bot;
    if (data.bot && data.bot.name) ui.botName.textContent = data.bot.name;
    if (!state.clock || state.clock.iso.slice(0, 16) !== data.clock.iso.slice(0, 16)) renderClock(data.clock);
    $("guide-zalo").hidden = !state.personas.some((p) => p.channel === "zalo");
    renderPersonas();
  }

  async function tick() {
    try {
      await Promise.all([refreshPersonas(), refreshMessages(!document.hidden)]);
      if (state.waitingSince && Date.now() - state.waitingSince > TYPING_MS) setTyping(false);
    } catch (e) {
      ui.chatStatus.textContent = "mất kết nối với sandbox…";
    } finally {
      setTimeout(tick, POLL_MS);
    }
  }

  // ------------------------------------------------------------------ wiring

  ui.composer.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = ui.input.value;
    ui.input.value = "";
    // Nothing typed is lost: a message the chat refuses comes back to the box.
    if (!(await sendText(text)) && !ui.input.value) ui.input.value = text;
  });
  ui.input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  ui.file.addEventListener("change", () => {
    const file = ui.file.files && ui.file.files[0];
    ui.file.value = "";
    upload(file);
  });
  ui.kbToggle.addEventListener("click", () => {
    state.keyboardOpen = !state.keyboardOpen;
    renderKeyboard(state.keyboard);
  });
  ui.messages.addEventListener("click", (ev) => {
    const spoiler = ev.target.closest(".spoiler");
    if (spoiler) { spoiler.classList.add("shown"); return; }
    const link = ev.target.closest("a[href]");
    if (!link) return;
    const code = inviteCode(link.getAttribute("href"));
    if (code) {
      ev.preventDefault();
      openInvite(code);
    }
  });
  document.querySelectorAll("[data-advance]").forEach((button) => {
    button.addEventListener("click", () => {
      const [unit, amount] = button.dataset.advance.split(":");
      moveClock("/api/clock/advance", { [unit]: Number(amount) });
    });
  });
  ui.clockForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    moveClock("/api/clock/set", { at: ui.clockInput.value });
  });
  window.addEventListener("hashchange", () => {
    const key = location.hash.slice(1);
    if (state.personas.some((p) => p.key === key)) selectPersona(key);
  });

  (async () => {
    try {
      await refreshPersonas();
    } catch (e) {
      toast("Không kết nối được sandbox.", true);
    }
    const wanted = location.hash.slice(1);
    const first = state.personas.find((p) => p.key === wanted) || state.personas[0];
    if (first) selectPersona(first.key);
    setTimeout(tick, POLL_MS);
  })();
})();
