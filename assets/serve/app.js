// hrseg serve's page: upload once, ask many times, watch the answer stream, see the masks.
// Plain browser JavaScript, no dependencies; everything it loads comes from this server.
const $ = (id) => document.getElementById(id);
const COLOURS = [
  [255, 40, 200],
  [30, 200, 255],
  [255, 200, 0],
  [90, 220, 90],
  [255, 110, 40],
  [160, 110, 255],
];
let imageId = null;
let running = null;

// The server's token, if it has one: opened as /?token=…, kept in a cookie for reloads (per port,
// as cookies are not), and taken out of the address bar so it is not bookmarked or shared.
const TOKEN_COOKIE = `hrseg_token_${location.port || (location.protocol === 'https:' ? '443' : '80')}`;
function takeToken() {
  const params = new URLSearchParams(location.search);
  const given = params.get('token');
  if (given) {
    document.cookie = `${TOKEN_COOKIE}=${encodeURIComponent(given)}; path=/; SameSite=Strict${location.protocol === 'https:' ? '; Secure' : ''}`;
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
    return given;
  }
  const kept = document.cookie.split('; ').find((c) => c.startsWith(`${TOKEN_COOKIE}=`));
  return kept ? decodeURIComponent(kept.slice(TOKEN_COOKIE.length + 1)) : null;
}
const token = takeToken();

function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(path, { ...init, headers });
}

function setState(state) {
  document.body.dataset.state = state;
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return `${body.error.code}: ${body.error.message}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

// The lisa preset makes no proposals: each [SEG]'s mask comes from LISA's decoder.
let lisa = false;

async function loadInfo() {
  const response = await api('/api/info');
  if (!response.ok) throw new Error(await errorText(response));
  const info = await response.json();
  lisa = info.model.preset === 'lisa';
  $('model').textContent = `Model ${info.model.name} (${info.model.preset}) on ${info.device}` + (info.deviceReason ? ` (${info.deviceReason})` : '');
  $('untrained').hidden = info.model.trained;
}

function drawOriginal(bitmap) {
  for (const id of ['original', 'view']) {
    const c = $(id);
    c.width = bitmap.width;
    c.height = bitmap.height;
    c.getContext('2d').drawImage(bitmap, 0, 0);
  }
}

async function pixelsOf(dataUrl, width, height) {
  const img = new Image();
  img.src = dataUrl;
  await img.decode();
  const c = new OffscreenCanvas(width, height);
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height).data;
}

async function drawResult(result) {
  const { width: W, height: H } = result;
  const original = $('original').getContext('2d').getImageData(0, 0, W, H);
  const out = new ImageData(new Uint8ClampedArray(original.data), W, H);
  const legend = $('legend');
  legend.replaceChildren();
  for (const [s, seg] of result.segments.entries()) {
    const colour = COLOURS[s % COLOURS.length];
    const m = await pixelsOf(seg.mask, W, H);
    for (let p = 0; p < W * H; p++)
      if (m[p * 4] > 127) for (let c = 0; c < 3; c++) out.data[p * 4 + c] = Math.round(0.5 * original.data[p * 4 + c] + 0.5 * colour[c]);
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.style.background = `rgb(${colour.join(',')})`;
    li.append(
      swatch,
      lisa ? `[SEG] ${s + 1}: LISA's decoder` : `[SEG] ${s + 1}: proposals ${seg.chosen.join(', ') || 'none'}${seg.fallback ? ' (fallback)' : ''}`,
    );
    legend.append(li);
  }
  if (result.outline) {
    const o = await pixelsOf(result.outline, W, H);
    for (let p = 0; p < W * H; p++) if (o[p * 4] > 127) out.data.set([255, 255, 0], p * 4);
  }
  $('view').getContext('2d').putImageData(out, 0, 0);
  const a = $('download');
  a.href = result.mask;
  a.hidden = false;
  const body = $('timings').tBodies[0];
  body.replaceChildren();
  for (const [stage, ms] of Object.entries(result.timings)) {
    const tr = body.insertRow();
    const th = document.createElement('th');
    th.textContent = stage;
    tr.append(th);
    tr.insertCell().textContent = ms.toFixed(1);
  }
  $('timings').hidden = false;
}

async function upload(file) {
  showError('');
  imageId = null;
  $('instruction').disabled = $('send').disabled = true;
  setState('uploading');
  try {
    drawOriginal(await createImageBitmap(file));
  } catch {
    // Not decodable by the browser: the server still says what is wrong with it.
  }
  $('image-status').textContent = `Preparing ${file.name}…`;
  // The server takes image types or raw bytes; a file the browser cannot type goes as bytes.
  const type = file.type.startsWith('image/') ? file.type : 'application/octet-stream';
  const response = await api('/api/images', { method: 'POST', headers: { 'content-type': type }, body: file });
  if (!response.ok) {
    $('image-status').textContent = '';
    showError(await errorText(response));
    setState('error');
    return;
  }
  const r = await response.json();
  imageId = r.id;
  const ms = Object.values(r.timings).reduce((a, b) => a + b, 0);
  $('image-status').textContent =
    `${file.name}: ${r.width}×${r.height}, ${lisa ? 'SAM embedding and image prefix' : `${r.proposals} proposals`}, prepared in ${ms.toFixed(0)} ms.`;
  $('instruction').disabled = $('send').disabled = false;
  $('instruction').focus();
  setState('ready');
}

// Server-Sent Events from a POST response: blocks separated by a blank line.
async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) yield { event, data: JSON.parse(data) };
    }
  }
}

async function ask(instruction) {
  showError('');
  $('answer').textContent = '';
  running = new AbortController();
  $('send').disabled = true;
  $('stop').disabled = false;
  setState('answering');
  try {
    const response = await api(`/api/images/${imageId}/segment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instruction, outlines: $('outlines').checked }),
      signal: running.signal,
    });
    if (!response.ok) throw new Error(await errorText(response));
    let answered = false;
    for await (const { event, data } of events(response)) {
      if (event === 'token') $('answer').textContent += data.text;
      else if (event === 'error') throw new Error(`${data.code}: ${data.message}`);
      else if (event === 'result') {
        $('answer').textContent = data.answer;
        await drawResult(data);
        answered = true;
      }
    }
    // 'done' once the stream has ended, not at the result: nothing of this request is left open.
    if (!answered) throw new Error('the server closed the answer early');
    setState('done');
  } catch (e) {
    if (e.name === 'AbortError') setState('stopped');
    else {
      showError(e.message);
      setState('error');
    }
  } finally {
    running = null;
    $('send').disabled = imageId === null;
    $('stop').disabled = true;
  }
}

$('file').addEventListener('change', () => {
  const f = $('file').files[0];
  if (f) upload(f);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer.files[0];
  if (f) upload(f);
});
$('ask').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('instruction').value.trim();
  if (text && imageId && !running) ask(text);
});
$('stop').addEventListener('click', () => running?.abort());
loadInfo().catch((e) => showError(`cannot reach the server: ${e.message}`));
setState('idle');
