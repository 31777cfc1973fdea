// The playground page: reads /api/state, acts through /api/messages|reactions|commands, lives on /api/stream.
(() => {
  "use strict";

  const Emoji = window.PlaygroundEmoji;  // emoji.js: inline SVG glyphs, no emoji font needed
  const QUICK = [
    ["+1", "thumbs up"], ["white_check_mark", "check mark"], ["star", "star"], ["tada", "party popper"], ["eyes", "eyes"],
  ];
  const COLORS = ["#e8912d", "#2bac76", "#1d9bd1", "#e01e5a", "#8b6fd6", "#d4a300", "#3aa3e3", "#c25ea7"];
  const BOT_FACE = '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="4" y="7" width="16" height="12" rx="3" fill="#fff"/>' +
    '<circle cx="9" cy="13" r="1.7" fill="#4a154b"/><circle cx="15" cy="13" r="1.7" fill="#4a154b"/>' +
    '<rect x="11" y="3" width="2" height="4" fill="#fff"/><circle cx="12" cy="3" r="1.6" fill="#fff"/></svg>';

  const $ = (id) => document.getElementById(id);
  const stored = (key) => { try { return localStorage.getItem(key); } catch (e) { return null; } };
  const store = (key, value) => { try { localStorage.setItem(key, value); } catch (e) { /* private mode */ } };

  const state = {
    user: stored("playground.user"),
    channel: stored("playground.channel") || "C0GENERAL",
    thread: null,
    data: null,
    dismissed: new Set(),
    stickMain: true,
    stickThread: true,
  };

  // ------------------------------------------------------------------ text

  function esc(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  // Slack's order is its ts, "seconds.micros": compared exactly, as a float would blur the microseconds.
  // A slash command's ack is stamped when the command was sent, so it shows before what the app answers later.
  function compareTs(a, b) {
    const [aSeconds, aMicros = ""] = String(a).split(".");
    const [bSeconds, bMicros = ""] = String(b).split(".");
    const micros = (fraction) => Number(`${fraction}000000`.slice(0, 6));
    return (Number(aSeconds) - Number(bSeconds)) || (micros(aMicros) - micros(bMicros));
  }

  function isFineTuned(model) { return typeof model === "string" && model.startsWith("ft:"); }

  function badge(model, testid) {
    const cls = isFineTuned(model) ? "model-badge ft" : "model-badge";
    const title = isFineTuned(model) ? "a fine-tuned model" : "the base model";
    return `<span class="${cls}" data-testid="${testid}" data-model="${esc(model)}" title="${title}">${esc(model)}</span>`;
  }

  // Slack mrkdwn, minimally: ```blocks```, `code`, <@U..>/<#C..>/<url|label>, *bold*, _italic_, ~strike~, :emoji:.
  function render(text, options = {}) {
    const raw = String(text ?? "");
    const pattern = /```([\s\S]*?)```|`([^`\n]+)`|<([^<>\n]+)>/g;
    const out = [];
    let last = 0;
    let match;
    while ((match = pattern.exec(raw))) {
      out.push(inline(raw.slice(last, match.index)));
      if (match[1] !== undefined) out.push(`<pre>${esc(match[1].replace(/^\n/, ""))}</pre>`);
      else if (match[2] !== undefined) {
        out.push(options.model && match[2] === options.model ? badge(match[2], "model-badge") : `<code>${esc(match[2])}</code>`);
      } else out.push(angle(match[3]));
      last = pattern.lastIndex;
    }
    out.push(inline(raw.slice(last)));
    return out.join("");
  }

  function angle(inner) {
    const users = (state.data && state.data.users) || {};
    const [target, label] = inner.split("|");
    if (target.startsWith("@")) {
      const id = target.slice(1);
      const name = label || (users[id] ? users[id].name : id);
      const mine = id === state.user ? " me" : "";
      return `<span class="mention${mine}" data-user="${esc(id)}">@${esc(name)}</span>`;
    }
    if (target.startsWith("#")) return `<span class="mention">#${esc(label || target.slice(1))}</span>`;
    if (target.startsWith("!")) return `<span class="mention">@${esc(label || target.slice(1))}</span>`;
    if (/^(https?:|mailto:)/i.test(target)) {
      return `<a href="${esc(target)}" target="_blank" rel="noopener noreferrer">${esc(label || target)}</a>`;
    }
    return esc(`<${inner}>`);
  }

  function inline(segment) {
    const edge = "(^|[\\s(>\"'])";
    const after = "(?=$|[\\s).,!?:;\"'<])";
    // Slack's three escapes (&lt; &gt; &amp;) show as the characters, as Slack clients show them
    let html = esc(segment.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&"));
    html = html.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>");
    html = html.replace(new RegExp(`${edge}\\*([^*\\n]+)\\*${after}`, "g"), "$1<strong>$2</strong>");
    html = html.replace(new RegExp(`${edge}_([^_\\n]+)_${after}`, "g"), "$1<em>$2</em>");
    html = html.replace(new RegExp(`${edge}~([^~\\n]+)~${after}`, "g"), "$1<del>$2</del>");
    html = html.replace(/:([a-z0-9_+\-]+(?:::skin-tone-[2-6])?):/g, (all, name) => (Emoji.has(name) ? Emoji.html(name) : all));
    return html.replace(/\n/g, "<br>");
  }

  // A typed @finetune-bot / @bot / @alice becomes Slack's <@ID>, as the Slack client does on send.
  function convertMentions(text) {
    const data = state.data;
    if (!data) return text;
    const names = { bot: data.bot.id };
    for (const user of Object.values(data.users)) names[user.name.toLowerCase()] = user.id;
    return text.replace(/(^|[^\w<@])@([A-Za-z0-9][\w.\-]*[A-Za-z0-9]|[A-Za-z0-9])(?![\w\-])/g, (all, before, name) => {
      const id = names[name.toLowerCase()];
      return id ? `${before}<@${id}>` : all;
    });
  }

  function time(ts) {
    const date = new Date(parseFloat(ts) * 1000);
    return {
      short: date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      long: date.toLocaleString([], { dateStyle: "medium", timeStyle: "medium" }),
      iso: date.toISOString(),
    };
  }

  // ------------------------------------------------------------------ pieces

  function person(id) {
    const users = (state.data && state.data.users) || {};
    return users[id] || { id, name: id || "someone", real_name: id || "someone", is_bot: false };
  }

  function avatar(userId, isBot) {
    if (isBot) return `<div class="avatar bot" aria-hidden="true">${BOT_FACE}</div>`;
    const user = person(userId);
    let hash = 0;
    for (const c of String(userId)) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
    const initial = (user.real_name || user.name || "?").trim().charAt(0).toUpperCase();
    return `<div class="avatar" style="background:${COLORS[hash % COLORS.length]}" aria-hidden="true">${esc(initial)}</div>`;
  }

  function head(userId, isBot, ts, extra = "") {
    const user = person(userId);
    const name = isBot ? state.data.bot.name : (user.real_name || user.name);
    const when = time(ts);
    const app = isBot ? '<span class="app-badge" title="an app">APP</span>' : "";
    return `<div class="msg-head"><span class="msg-name" data-testid="message-author">${esc(name)}</span>${app}` +
      `<time class="msg-time" datetime="${when.iso}" title="${esc(when.long)}">${esc(when.short)}</time>${extra}</div>`;
  }

  function reactions(message) {
    const me = state.user;
    const approving = new Set(state.data.approve_reactions || []);
    const present = new Map(message.reactions.map((r) => [r.name, r]));
    const buttons = [];
    const button = (name, count, mine, ghost) => {
      const what = QUICK.find(([n]) => n === name);
      const label = mine
        ? `Take back your :${name}: reaction (${count} in all)`
        : `React with :${name}:${what ? ` (${what[1]})` : ""}${count ? `, ${count} so far` : ""}`;
      const approve = approving.has(name.split("::")[0]) && message.is_bot && message.model ? " approving" : "";
      const title = approve ? `${label}: approves this answer for fine-tuning` : label;
      return `<button type="button" class="reaction${ghost ? " ghost" : ""}${approve}" data-testid="reaction" ` +
        `data-focus="react:${esc(name)}" data-action="react" data-ts="${esc(message.ts)}" data-name="${esc(name)}" ` +
        `data-count="${count}" aria-pressed="${mine}" aria-label="${esc(label)}" title="${esc(title)}">` +
        `${Emoji.html(name, { decorative: true })}<span class="count">${count || ""}</span></button>`;
    };
    for (const r of message.reactions) buttons.push(button(r.name, r.count, r.users.includes(me), false));
    const missing = QUICK.filter(([name]) => !present.has(name));
    if (buttons.length && missing.length) buttons.push('<span class="divider" aria-hidden="true"></span>');
    for (const [name] of missing) buttons.push(button(name, 0, false, true));
    return `<div class="reactions" role="group" aria-label="Reactions">${buttons.join("")}</div>`;
  }

  // Slack's native feedback buttons (a context_actions block) and the message's own buttons (Improve).
  function controlsHtml(message) {
    const controls = message.controls || [];
    if (!controls.length) return "";
    const buttons = controls.map((c) => {
      const ts = esc(message.ts);
      if (c.kind === "feedback") {
        const side = c.positive ? "positive" : "negative";
        return `<button type="button" class="control feedback ${side}" data-testid="feedback-${side}" ` +
          `data-action="feedback" data-ts="${ts}" data-positive="${c.positive}" data-focus="feedback:${side}" ` +
          `aria-label="${esc(c.label || c.text)}" title="${esc(c.label || c.text)}">` +
          `${Emoji.html(c.positive ? "+1" : "-1", { decorative: true })}<span>${esc(c.text)}</span></button>`;
      }
      return `<button type="button" class="control button" data-testid="button" data-action="button" data-ts="${ts}" ` +
        `data-action-id="${esc(c.action_id)}" data-value="${esc(c.value || "")}" data-focus="button:${esc(c.action_id)}" ` +
        `aria-label="${esc(c.label || c.text)}">${esc(c.text)}</button>`;
    });
    return `<div class="controls" data-testid="controls" role="group" aria-label="Answer feedback">${buttons.join("")}</div>`;
  }

  function threadSummary(message) {
    if (!message.reply_count || message.is_reply) return "";
    const count = message.reply_count === 1 ? "1 reply" : `${message.reply_count} replies`;
    const faces = (message.reply_users || []).slice(0, 4)
      .map((id) => avatar(id, person(id).is_bot)).join("");
    const model = message.thread_model ? badge(message.thread_model, "thread-model") : "";
    const last = message.latest_reply ? `<span class="last-reply">Last reply ${esc(time(message.latest_reply).short)}</span>` : "";
    return `<button type="button" class="thread-summary" data-testid="thread-summary" data-focus="thread" ` +
      `data-action="open-thread" data-ts="${esc(message.ts)}" data-replies="${message.reply_count}" ` +
      `data-model="${esc(message.thread_model || "")}" aria-label="Open thread: ${count}">` +
      `<span class="mini-avatars" aria-hidden="true">${faces}</span><span class="reply-count">${count}</span>` +
      `${model}${last}<span class="view-thread">View thread ›</span></button>`;
  }

  function messageHtml(message, where) {
    const classes = ["msg"];
    if (message.is_bot) classes.push("bot");
    const notification = message.is_bot && !message.model && !message.is_reply && !message.reply_count && where === "main";
    if (notification) classes.push("notification");
    const context = contextHtml(message);
    const actions = where === "main"
      ? `<div class="msg-actions" role="group" aria-label="Message actions">` +
        `<button type="button" class="icon-button" data-testid="reply-in-thread" data-focus="reply" data-action="open-thread" ` +
        `data-ts="${esc(message.ts)}" aria-label="Reply in thread" title="Reply in thread">${Emoji.html("speech_balloon", { decorative: true })} Reply in thread</button></div>`
      : "";
    return `<div class="${classes.join(" ")}" data-testid="message" data-ts="${esc(message.ts)}" ` +
      `data-user="${esc(message.user || "")}" data-kind="${message.is_bot ? "bot" : "user"}" ` +
      `data-model="${esc(message.model || "")}"${notification ? ' data-notification="true"' : ""}>` +
      avatar(message.user, message.is_bot) +
      `<div class="msg-body">${head(message.user, message.is_bot, message.ts)}` +
      `<div class="msg-text" data-testid="message-text">${render(message.text)}</div>${context}` +
      `${controlsHtml(message)}${reactions(message)}${where === "main" ? threadSummary(message) : ""}</div>${actions}</div>`;
  }

  // The model badge comes from the reply's metadata (message.model), never from the footer's text: where the
  // footer shows that same model as `code` the badge takes its place, otherwise the badge leads the line.
  function contextHtml(message) {
    if (!message.context && !message.model) return "";
    const text = render(message.context, { model: message.model });
    const lead = message.model && !text.includes('data-testid="model-badge"') ? `${badge(message.model, "model-badge")} ` : "";
    return `<div class="context" data-testid="message-context">${lead}${text}</div>`;
  }

  function ephemeralHtml(eph) {
    return `<div class="msg bot ephemeral" data-testid="ephemeral" data-ts="${esc(eph.ts)}" data-source="${esc(eph.source || "")}">` +
      avatar(null, true) +
      `<div class="msg-body">${head(null, true, eph.ts, `<span class="only-you">${Emoji.html("eye", { decorative: true })} Only visible to you</span>`)}` +
      `<div class="msg-text" data-testid="message-text">${render(eph.text)}</div>` +
      `<button type="button" class="dismiss" data-action="dismiss" data-focus="dismiss" data-ts="${esc(eph.ts)}" ` +
      `aria-label="Dismiss this message">Dismiss message</button></div></div>`;
  }

  function introHtml(channel) {
    const dm = channel && channel.is_im;
    const title = dm ? `This is your direct message with ${esc(state.data.bot.name)}` : `This is the very beginning of <span>#${esc(channel ? channel.name : "")}</span>`;
    const text = dm
      ? `Ask it anything here, no mention needed. Click <strong>Good answer</strong> or react ${Emoji.html("+1")} ` +
        "on answers you like, <strong>Improve</strong> on those you would write differently."
      : `Ask the bot with <strong>@finetune-bot Review this product: …</strong>, click <strong>Good answer</strong> ` +
        `or react ${["+1", "white_check_mark", "star"].map((name) => Emoji.html(name)).join(" ")} on good answers, ` +
        "<strong>Improve</strong> the others, then try <code>/finetune run</code>.";
    return `<div class="intro" data-testid="intro"><h2>${title}</h2><p>${text}</p></div>`;
  }

  // ------------------------------------------------------------------ keyed DOM updates (keeps focus and hover)

  function build(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const element = template.content.firstElementChild;
    element.__sig = html;
    return element;
  }

  function reconcile(container, items) {
    const existing = new Map();
    for (const child of container.children) if (child.dataset.key) existing.set(child.dataset.key, child);
    const active = document.activeElement;
    let refocus = null;
    const keep = new Set();
    let ref = container.firstElementChild;
    for (const item of items) {
      let element = existing.get(item.key);
      if (element && element.__sig !== item.html) {
        const fresh = build(item.html);
        fresh.dataset.key = item.key;
        if (active && element.contains(active) && active.dataset.focus) refocus = { element: fresh, focus: active.dataset.focus };
        if (ref === element) ref = fresh;
        element.replaceWith(fresh);
        element = fresh;
      } else if (!element) {
        element = build(item.html);
        element.dataset.key = item.key;
      }
      keep.add(element);
      if (element === ref) ref = ref.nextElementSibling;
      else container.insertBefore(element, ref);
    }
    for (const child of [...container.children]) if (!keep.has(child)) child.remove();
    if (refocus) {
      const target = refocus.element.querySelector(`[data-focus="${CSS.escape(refocus.focus)}"]`);
      if (target) target.focus();
    }
  }

  function nearBottom(element) {
    return element.scrollHeight - element.scrollTop - element.clientHeight < 120;
  }

  // ------------------------------------------------------------------ rendering the state

  function currentChannel() {
    return state.data.channels.find((c) => c.id === state.data.channel);
  }

  function renderAll() {
    const data = state.data;
    $("workspace-name").textContent = data.team || "Sandbox";
    renderUsers();
    renderSidebar();
    const channel = currentChannel();
    const title = channel ? (channel.is_im ? `${channel.name}` : `# ${channel.name}`) : "";
    $("channel-title").innerHTML = channel && channel.is_im ? `${esc(title)} <span class="app-badge">APP</span>` : esc(title);
    document.title = `${title} · finetune-bot playground`;
    const placeholder = channel ? (channel.is_im ? `Message ${channel.name}` : `Message #${channel.name}`) : "Message";
    $("composer").placeholder = placeholder;
    $("mention-hint").innerHTML = channel && channel.is_im
      ? "no mention needed in this DM"
      : "mention <code>@finetune-bot</code> to ask it something";
    $("thread-channel").textContent = channel ? (channel.is_im ? channel.name : `# ${channel.name}`) : "";
    renderModel();
    renderMain(channel);
    renderThread();
    renderModal();
  }

  function renderUsers() {
    const select = $("user-switch");
    const people = state.data.people;
    const sig = people.map((p) => p.id + p.name).join("|");
    if (select.__sig !== sig) {
      select.__sig = sig;
      select.innerHTML = people.map((p) =>
        `<option value="${esc(p.id)}">${esc(p.real_name)} (@${esc(p.name)})</option>`).join("");
    }
    select.value = state.user;
  }

  function renderSidebar() {
    const item = (c) => {
      const current = c.id === state.data.channel ? ' aria-current="page"' : "";
      const icon = c.is_im ? '<span class="presence" aria-hidden="true"></span>' : `<span class="hash" aria-hidden="true">${c.is_private ? Emoji.html("lock", { decorative: true }) : "#"}</span>`;
      const label = c.is_im ? `${esc(c.name)} <span class="app-badge">APP</span>` : esc(c.name);
      const aria = c.is_im ? `Direct message with ${c.name}` : `Channel ${c.name}`;
      return `<li><button type="button" class="nav-item" data-testid="channel-link" data-channel="${esc(c.id)}" ` +
        `data-action="switch-channel" aria-label="${esc(aria)}"${current}>${icon}<span>${label}</span></button></li>`;
    };
    const channels = state.data.channels.filter((c) => !c.is_im);
    const dms = state.data.channels.filter((c) => c.is_im);
    const channelHtml = channels.map(item).join("");
    const dmHtml = dms.length ? dms.map(item).join("") : '<li class="nav-empty">No DM with the bot for this person</li>';
    if ($("channel-list").__sig !== channelHtml) { $("channel-list").innerHTML = channelHtml; $("channel-list").__sig = channelHtml; }
    if ($("dm-list").__sig !== dmHtml) { $("dm-list").innerHTML = dmHtml; $("dm-list").__sig = dmHtml; }
  }

  function renderModel() {
    const model = state.data.model;
    const element = $("current-model");
    element.textContent = model || "unknown";
    element.className = isFineTuned(model) ? "model-badge ft" : "model-badge";
    element.dataset.model = model || "";
    element.title = isFineTuned(model) ? "A fine-tuned model is answering" : "The base model is answering";
  }

  function renderMain(channel) {
    const list = $("messages");
    const stick = state.stickMain || nearBottom(list);
    const entries = [];
    for (const m of state.data.messages) entries.push({ ts: m.ts, key: `m:${m.ts}`, html: messageHtml(m, "main") });
    for (const e of state.data.ephemerals) {
      if (!state.dismissed.has(e.ts)) entries.push({ ts: e.ts, key: `e:${e.ts}`, html: ephemeralHtml(e) });
    }
    entries.sort((a, b) => compareTs(a.ts, b.ts));
    reconcile(list, [{ key: `intro:${state.data.channel}`, html: introHtml(channel) }, ...entries]);
    if (stick) list.scrollTop = list.scrollHeight;
    state.stickMain = false;
  }

  function renderThread() {
    const pane = $("thread-pane");
    const thread = state.data.thread;
    if (!state.thread || !thread) {
      if (!pane.hidden) closeThread(false);
      return;
    }
    pane.hidden = false;
    $("app").classList.add("with-thread");
    pane.dataset.ts = thread.ts;
    const list = $("thread-messages");
    const stick = state.stickThread || nearBottom(list);
    const [parent, ...replies] = thread.messages;
    const items = [{ key: `t:${parent.ts}`, html: messageHtml(parent, "thread") }];
    const count = replies.length === 1 ? "1 reply" : `${replies.length} replies`;
    items.push({ key: `divider:${replies.length}`, html: `<div class="thread-divider" data-testid="thread-divider">${count}</div>` });
    for (const m of replies) items.push({ key: `t:${m.ts}`, html: messageHtml(m, "thread") });
    reconcile(list, items);
    if (stick) list.scrollTop = list.scrollHeight;
    state.stickThread = false;
  }

  // ------------------------------------------------------------------ the modal (Improve)

  // Redrawn only when the view itself changes (a new view, new errors), so what the person types stays.
  function renderModal() {
    const overlay = $("modal");
    const view = state.data.view;
    if (!view) {
      if (!overlay.hidden) {
        overlay.hidden = true;
        overlay.__sig = null;
        $("modal-form").innerHTML = "";
        if (state.modalOpener && document.body.contains(state.modalOpener)) state.modalOpener.focus();
      }
      return;
    }
    const sig = JSON.stringify([view.id, view.hash, view.errors]);
    if (overlay.__sig === sig) return;
    const typed = overlay.__view === view.id ? currentValues() : {};
    overlay.__sig = sig;
    overlay.__view = view.id;
    const texts = view.texts.map((t) => `<p class="modal-text">${render(t)}</p>`).join("");
    const inputs = view.inputs.map((input, index) => {
      const id = `modal-input-${index}`;
      const value = typed[input.block_id] !== undefined ? typed[input.block_id] : input.value;
      const error = view.errors[input.block_id];
      const field = input.multiline
        ? `<textarea id="${id}" data-testid="modal-input" data-block="${esc(input.block_id)}" rows="8" maxlength="${input.max_length}"` +
          `${error ? ' aria-invalid="true"' : ""}>${esc(value)}</textarea>`
        : `<input id="${id}" data-testid="modal-input" data-block="${esc(input.block_id)}" maxlength="${input.max_length}" ` +
          `value="${esc(value)}"${error ? ' aria-invalid="true"' : ""}>`;
      return `<div class="modal-field"><label for="${id}">${esc(input.label)}${input.optional ? " <span>(optional)</span>" : ""}</label>` +
        `${field}${input.hint ? `<p class="modal-hint">${esc(input.hint)}</p>` : ""}` +
        `${error ? `<p class="modal-error" data-testid="modal-error" role="alert">${esc(error)}</p>` : ""}</div>`;
    }).join("");
    $("modal-title").textContent = view.title;
    $("modal-form").innerHTML = `${texts}${inputs}<div class="modal-buttons">` +
      `<button type="button" class="modal-cancel" data-testid="modal-cancel" data-action="modal-cancel">${esc(view.close)}</button>` +
      `<button type="submit" class="modal-submit" data-testid="modal-submit">${esc(view.submit)}</button></div>`;
    overlay.hidden = false;
    const first = $("modal-form").querySelector("textarea, input");
    if (first) first.focus();
  }

  function currentValues() {
    const values = {};
    for (const field of $("modal-form").querySelectorAll("[data-block]")) values[field.dataset.block] = field.value;
    return values;
  }

  async function submitModal() {
    try {
      await api("/api/views/submit", { values: currentValues(), user: state.user });
      scheduleRefresh(0);
    } catch (error) {
      toast(error.message);
    }
  }

  async function closeModal() {
    try {
      await api("/api/views/close", { user: state.user });
    } catch (error) {
      if (error.status !== 409) toast(error.message);
    }
    scheduleRefresh(0);
  }

  // ------------------------------------------------------------------ talking to the server

  async function api(path, body) {
    const response = await fetch(path, body === undefined ? { cache: "no-store" } : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    let payload = null;
    try { payload = await response.json(); } catch (e) { payload = null; }
    if (!response.ok || !payload || payload.ok === false) {
      const message = (payload && payload.message) || `The playground answered HTTP ${response.status}.`;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return payload;
  }

  let refreshing = false;
  let again = false;
  let timer = null;

  function scheduleRefresh(delay = 40) {
    if (timer) return;
    timer = setTimeout(() => { timer = null; refresh(); }, delay);
  }

  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      do {
        again = false;
        const params = new URLSearchParams({ channel: state.channel });
        if (state.user) params.set("user", state.user);
        if (state.thread) params.set("thread", state.thread);
        let data;
        try {
          data = await api(`/api/state?${params}`);
        } catch (error) {
          // a channel or person the server does not know (left from another sandbox): fall back step by step
          const stale = error.status === 400 || error.status === 403;
          if (stale && (state.channel !== "C0GENERAL" || state.thread)) {
            state.channel = "C0GENERAL";
            state.thread = null;
            closeThread(false);
            again = true;
            continue;
          }
          if (stale && state.user) {
            state.user = null;
            again = true;
            continue;
          }
          throw error;
        }
        if (!state.user) state.user = data.me;
        state.data = data;
        renderAll();
      } while (again);
    } catch (error) {
      toast(error.message);
    } finally {
      refreshing = false;
    }
  }

  function connect() {
    const connection = $("connection");
    const source = new EventSource("/api/stream");
    source.addEventListener("hello", () => {
      connection.dataset.state = "live";
      connection.textContent = "live";
      scheduleRefresh(0);
    });
    source.addEventListener("change", (event) => {
      let note = {};
      try { note = JSON.parse(event.data); } catch (e) { /* refresh anyway */ }
      if (note.channel && note.channel !== state.channel) return;
      if ((note.type === "ephemeral" || note.type === "view") && note.user && note.user !== state.user) return;
      scheduleRefresh();
    });
    source.addEventListener("error", () => {
      connection.dataset.state = source.readyState === EventSource.CLOSED ? "offline" : "connecting";
      connection.textContent = source.readyState === EventSource.CLOSED ? "offline" : "reconnecting…";
    });
  }

  // ------------------------------------------------------------------ actions

  let toastTimer = null;
  function toast(message) {
    const element = $("toast");
    element.textContent = message;
    element.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { element.hidden = true; }, 6000);
  }

  async function send(textarea, threadTs) {
    const typed = textarea.value;
    const text = typed.trim();
    if (!text || !state.data) return;
    textarea.value = "";
    autosize(textarea);
    try {
      if (text.startsWith("/")) {
        state.stickMain = true;
        await api("/api/commands", { channel: state.channel, text, user: state.user });
      } else {
        if (threadTs) state.stickThread = true; else state.stickMain = true;
        const body = { channel: state.channel, text: convertMentions(text), user: state.user };
        if (threadTs) body.thread_ts = threadTs;
        await api("/api/messages", body);
      }
      scheduleRefresh(0);
    } catch (error) {
      if (!textarea.value) { textarea.value = typed; autosize(textarea); }
      toast(error.message);
    }
  }

  async function toggleReaction(button) {
    const ts = button.dataset.ts;
    const name = button.dataset.name;
    const add = button.getAttribute("aria-pressed") !== "true";
    try {
      await api("/api/reactions", { channel: state.channel, ts, name, add, user: state.user });
      scheduleRefresh(0);
    } catch (error) {
      toast(error.message);
      scheduleRefresh(0);
    }
  }

  async function clickFeedback(button) {
    try {
      await api("/api/feedback", { channel: state.channel, ts: button.dataset.ts,
        positive: button.dataset.positive === "true", user: state.user });
    } catch (error) {
      toast(error.message);
    }
    scheduleRefresh(0);
  }

  async function clickButton(button) {
    state.modalOpener = button;
    try {
      await api("/api/actions", { channel: state.channel, ts: button.dataset.ts, action_id: button.dataset.actionId,
        value: button.dataset.value || undefined, user: state.user });
    } catch (error) {
      toast(error.message);
    }
    scheduleRefresh(0);
  }

  function openThread(ts) {
    state.thread = ts;
    state.stickThread = true;
    refresh().then(() => { if (state.thread === ts) $("thread-composer").focus(); });
  }

  function closeThread(focusBack = true) {
    const ts = state.thread;
    state.thread = null;
    $("thread-pane").hidden = true;
    $("app").classList.remove("with-thread");
    $("thread-messages").innerHTML = "";
    if (focusBack) {
      const summary = ts && document.querySelector(`#messages [data-ts="${CSS.escape(ts)}"] [data-action="open-thread"]`);
      (summary || $("composer")).focus();
    }
  }

  function switchChannel(id) {
    if (id === state.channel) return;
    state.channel = id;
    state.thread = null;
    state.stickMain = true;
    store("playground.channel", id);
    closeThread(false);
    $("messages").innerHTML = "";
    refresh().then(() => $("composer").focus());
  }

  function switchUser(id) {
    state.user = id;
    store("playground.user", id);
    const channel = state.data && currentChannel();
    if (channel && channel.is_im) {  // a DM with the bot is one person's: the other lands in #general
      state.channel = "C0GENERAL";
      store("playground.channel", state.channel);
      closeThread(false);
      $("messages").innerHTML = "";
    }
    state.stickMain = true;
    refresh();
  }

  function autosize(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.min(textarea.scrollHeight, 200)}px`;
  }

  function wireComposer(textarea, form, threadTs) {
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        send(textarea, threadTs());
      }
    });
    textarea.addEventListener("input", () => autosize(textarea));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(textarea, threadTs());
      textarea.focus();
    });
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-action]");
    if (!target) return;
    const action = target.dataset.action;
    if (action === "react") toggleReaction(target);
    else if (action === "feedback") clickFeedback(target);
    else if (action === "button") clickButton(target);
    else if (action === "modal-cancel") closeModal();
    else if (action === "open-thread") openThread(target.dataset.ts);
    else if (action === "switch-channel") switchChannel(target.dataset.channel);
    else if (action === "dismiss") { state.dismissed.add(target.dataset.ts); renderMain(currentChannel()); $("composer").focus(); }
  });

  $("modal-form").addEventListener("submit", (event) => { event.preventDefault(); submitModal(); });
  $("modal").addEventListener("keydown", (event) => { if (event.key === "Escape") { event.stopPropagation(); closeModal(); } });
  $("thread-close").addEventListener("click", () => closeThread(true));
  $("thread-pane").addEventListener("keydown", (event) => { if (event.key === "Escape") closeThread(true); });
  $("user-switch").addEventListener("change", (event) => switchUser(event.target.value));
  wireComposer($("composer"), $("composer-form"), () => null);
  wireComposer($("thread-composer"), $("thread-form"), () => state.thread);

  refresh().then(() => $("composer").focus());
  connect();
})();
