// Emoji for the playground, drawn as inline SVG: the page must look right on a machine without an emoji font
// (a CI runner, a fresh Debian) and without the network. Only the glyphs the bot, the stand-ins and the page use
// are here; any other name shows as its `:name:` text, as Slack shows an emoji it does not know.
(() => {
  "use strict";

  const CHECK = '<path d="M9 18.5l6 6.5L27.5 11" fill="none" stroke="#fff" stroke-width="4.5" stroke-linecap="round" stroke-linejoin="round"/>';
  const THUMB = '<rect x="3" y="16" width="7" height="17" rx="1.5" fill="#5DADEC"/>' +
    '<path d="M10 17h3.5l5.2-9.6c1-1.9 3.3-2.4 4.6-1 .9.9 1 2.3.6 3.5L22 16h7.3c2.2 0 3.8 2 3.3 4.1l-2.5 10.1' +
    'c-.4 1.6-1.8 2.8-3.5 2.8H10z" fill="#FFCC4D" stroke="#C1694F" stroke-width="1.2" stroke-linejoin="round"/>' +
    '<path d="M23 21h6M22.5 25.5h5.5M22 29.5h4.5" stroke="#C1694F" stroke-width="1.2" stroke-linecap="round"/>';
  const GLASS = '<path d="M10 6.5h16c0 7-8 8.5-8 11.5s8 4.5 8 11.5H10c0-7 8-8.5 8-11.5S10 13.5 10 6.5z" fill="#CCE5F8" ' +
    'stroke="#8899A6" stroke-width="1"/>';
  const FRAME = '<rect x="7" y="3" width="22" height="3.5" rx="1.5" fill="#8B5E3C"/>' +
    '<rect x="7" y="29.5" width="22" height="3.5" rx="1.5" fill="#8B5E3C"/>';

  // name -> the inside of a 36x36 <svg>
  const GLYPHS = {
    "+1": THUMB,
    "-1": `<g transform="matrix(1 0 0 -1 0 36)">${THUMB}</g>`,
    pencil2: '<path d="M7 25L24 8l4 4-17 17z" fill="#FFCC4D" stroke="#C1694F" stroke-width="1.2" stroke-linejoin="round"/>' +
      '<path d="M24 8l2.5-2.5a2 2 0 0 1 2.8 0l1.2 1.2a2 2 0 0 1 0 2.8L28 12z" fill="#EA596E"/>' +
      '<path d="M7 25l-2 6 6-2z" fill="#FFE8B6" stroke="#C1694F" stroke-width="1.2" stroke-linejoin="round"/>',
    white_check_mark: `<rect x="2" y="2" width="32" height="32" rx="6" fill="#77B255"/>${CHECK}`,
    heavy_check_mark: '<path d="M6 19l8 8L30.5 9" fill="none" stroke="#31373D" stroke-width="5" stroke-linecap="round" stroke-linejoin="round"/>',
    x: '<path d="M8 8l20 20M28 8L8 28" stroke="#DD2E44" stroke-width="5.5" stroke-linecap="round"/>',
    star: '<polygon points="18 3 22.1 13.8 33.7 14.4 24.7 21.7 27.7 32.8 18 26.5 8.3 32.8 11.3 21.7 2.3 14.4 13.9 13.8" ' +
      'fill="#FFAC33" stroke="#F4900C" stroke-width="1.5" stroke-linejoin="round"/>',
    tada: '<path d="M3 33l7-20 13 13z" fill="#FFAC33" stroke="#E1732B" stroke-width="1" stroke-linejoin="round"/>' +
      '<path d="M6 26l4 4M8.2 19.8l8 8" stroke="#DD2E44" stroke-width="2.2" stroke-linecap="round"/>' +
      '<path d="M15 12c1.5-3 4-4 5-7M24 21c3-1.5 4.5-4 7.5-5" fill="none" stroke="#AA8DD8" stroke-width="1.8" stroke-linecap="round"/>' +
      '<circle cx="24" cy="6" r="2" fill="#55ACEE"/><circle cx="31" cy="24" r="2" fill="#DD2E44"/>' +
      '<circle cx="14" cy="5" r="1.6" fill="#77B255"/><circle cx="30" cy="10" r="1.6" fill="#FFCC4D"/>',
    eyes: '<ellipse cx="11" cy="18" rx="7" ry="11" fill="#fff" stroke="#31373D" stroke-width="1.8"/>' +
      '<ellipse cx="25" cy="18" rx="7" ry="11" fill="#fff" stroke="#31373D" stroke-width="1.8"/>' +
      '<circle cx="13" cy="21" r="3.8" fill="#31373D"/><circle cx="27" cy="21" r="3.8" fill="#31373D"/>',
    eye: '<path d="M2 18c4-7 9.5-10.5 16-10.5S30 11 34 18c-4 7-9.5 10.5-16 10.5S6 25 2 18z" fill="#fff" stroke="#66757F" stroke-width="2"/>' +
      '<circle cx="18" cy="18" r="6" fill="#66757F"/><circle cx="18" cy="18" r="2.6" fill="#31373D"/>',
    hourglass: `${GLASS}<path d="M11.2 29.5c.8-4 6.8-5.5 6.8-8.5 0 3 6 4.5 6.8 8.5z" fill="#FFAC33"/>${FRAME}`,
    hourglass_flowing_sand: `${GLASS}<path d="M12.5 10h11c-1 2.8-5.5 4.2-5.5 7 0-2.8-4.5-4.2-5.5-7z" fill="#FFAC33"/>` +
      '<path d="M18 17v9" stroke="#FFAC33" stroke-width="1.2"/>' +
      `<path d="M13 29.5c1-2.5 4-3.5 5-3.5s4 1 5 3.5z" fill="#FFAC33"/>${FRAME}`,
    warning: '<path d="M18 4l15.5 27.5h-31z" fill="#FFCC4D" stroke="#FFCC4D" stroke-width="3" stroke-linejoin="round"/>' +
      '<rect x="16.2" y="12" width="3.6" height="11.5" rx="1.8" fill="#231F20"/><circle cx="18" cy="27.3" r="2.1" fill="#231F20"/>',
    no_entry: '<circle cx="18" cy="18" r="16" fill="#DD2E44"/><rect x="7" y="15" width="22" height="6" rx="1.5" fill="#fff"/>',
    no_entry_sign: '<circle cx="18" cy="18" r="14" fill="none" stroke="#DD2E44" stroke-width="4.5"/>' +
      '<path d="M8.5 8.5l19 19" stroke="#DD2E44" stroke-width="4.5"/>',
    double_vertical_bar: '<rect x="2" y="2" width="32" height="32" rx="6" fill="#3B88C3"/>' +
      '<rect x="11" y="9" width="5" height="18" rx="1" fill="#fff"/><rect x="20" y="9" width="5" height="18" rx="1" fill="#fff"/>',
    sweat: '<circle cx="18" cy="19" r="15" fill="#FFCC4D"/><ellipse cx="12.5" cy="17" rx="2" ry="2.8" fill="#664500"/>' +
      '<ellipse cx="23.5" cy="17" rx="2" ry="2.8" fill="#664500"/>' +
      '<path d="M12 27c3.5-3.2 8.5-3.2 12 0" fill="none" stroke="#664500" stroke-width="2" stroke-linecap="round"/>' +
      '<path d="M29 2c-2.5 3.5-4 5.5-4 7.5a4 4 0 0 0 8 0c0-2-1.5-4-4-7.5z" fill="#5DADEC"/>',
    robot_face: '<path d="M18 10V5" stroke="#66757F" stroke-width="1.6"/><circle cx="18" cy="4.5" r="2.2" fill="#DD2E44"/>' +
      '<rect x="2" y="16" width="3" height="7" rx="1.2" fill="#66757F"/><rect x="31" y="16" width="3" height="7" rx="1.2" fill="#66757F"/>' +
      '<rect x="5" y="10" width="26" height="21" rx="5" fill="#CCD6DD" stroke="#66757F" stroke-width="1.2"/>' +
      '<circle cx="12.5" cy="19" r="3" fill="#31373D"/><circle cx="23.5" cy="19" r="3" fill="#31373D"/>' +
      '<rect x="12" y="25" width="12" height="2.4" rx="1.2" fill="#66757F"/>',
    calendar: '<rect x="3" y="5" width="30" height="28" rx="3" fill="#fff" stroke="#99AAB5" stroke-width="1.5"/>' +
      '<path d="M3 8a3 3 0 0 1 3-3h24a3 3 0 0 1 3 3v5H3z" fill="#DD2E44"/>' +
      '<g fill="#99AAB5"><rect x="8" y="17" width="4" height="4" rx=".6"/><rect x="16" y="17" width="4" height="4" rx=".6"/>' +
      '<rect x="24" y="17" width="4" height="4" rx=".6"/><rect x="8" y="25" width="4" height="4" rx=".6"/>' +
      '<rect x="16" y="25" width="4" height="4" rx=".6"/><rect x="24" y="25" width="4" height="4" rx=".6"/></g>',
    speech_balloon: '<path d="M4 5h28a2 2 0 0 1 2 2v16a2 2 0 0 1-2 2H15l-7 6v-6H4a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z" fill="#fff" ' +
      'stroke="#8899A6" stroke-width="2" stroke-linejoin="round"/>' +
      '<g fill="#8899A6"><circle cx="11" cy="15" r="2"/><circle cx="18" cy="15" r="2"/><circle cx="25" cy="15" r="2"/></g>',
    lock: '<path d="M11 16v-5a7 7 0 0 1 14 0v5" fill="none" stroke="#99AAB5" stroke-width="3.5"/>' +
      '<rect x="6" y="15" width="24" height="18" rx="3" fill="#FFAC33"/>' +
      '<circle cx="18" cy="22.5" r="2.6" fill="#C1694F"/><rect x="17" y="23" width="2" height="5.5" rx="1" fill="#C1694F"/>',
  };
  const ALIASES = { thumbsup: "+1", thumbsdown: "-1" };

  const esc = (value) => String(value ?? "").replace(/[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  // "+1::skin-tone-3" is drawn as "+1"; "thumbsup" as "+1"
  function base(name) {
    const plain = String(name ?? "").split("::")[0];
    return ALIASES[plain] || plain;
  }

  function has(name) {
    return Object.prototype.hasOwnProperty.call(GLYPHS, base(name));
  }

  function svg(name) {
    return `<svg class="glyph" viewBox="0 0 36 36" aria-hidden="true" focusable="false">${GLYPHS[base(name)]}</svg>`;
  }

  // The emoji as the page shows it: an inline glyph, or ":name:" text for a name it has no glyph for.
  // `decorative` leaves the naming to the surrounding control (a reaction button has its own label).
  function html(name, { decorative = false } = {}) {
    const label = `:${String(name ?? "")}:`;
    if (!has(name)) return `<span class="emoji emoji-text"${decorative ? ' aria-hidden="true"' : ""}>${esc(label)}</span>`;
    const naming = decorative ? 'aria-hidden="true"' : `role="img" aria-label="${esc(label)}"`;
    return `<span class="emoji" data-emoji="${esc(base(name))}" ${naming} title="${esc(label)}">${svg(name)}</span>`;
  }

  window.PlaygroundEmoji = Object.freeze({ has, html, names: Object.freeze([...Object.keys(GLYPHS), ...Object.keys(ALIASES)]) });
})();
