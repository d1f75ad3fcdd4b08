// Dashboard strings in English and Turkish, the language choice and locale-aware formatting.
// Pure module (no DOM): the page passes navigator.languages and the stored choice in.

export const LANGUAGES = ['en', 'tr'];

const en = {
  title: 'gozcu',
  'conn.connecting': 'Connecting…',
  'conn.live': 'Live',
  'conn.reconnecting': 'Reconnecting… (attempt {n})',
  'conn.disconnected': 'Disconnected',
  'conn.attempt': 'attempt {n}',
  'conn.offline': 'Disconnected (offline)',
  'conn.gaveUp': 'Disconnected: gave up reconnecting',
  'conn.retryNow': 'Retry now',
  'conn.stale': 'Showing the last known state',
  'lang.label': 'Language',
  'cams.title': 'Cameras',
  'cams.online': 'Online',
  'cams.retrying': 'Retrying',
  'cams.down': 'Down',
  'cams.none': 'No cameras configured',
  'cam.state.starting': 'starting',
  'cam.state.online': 'online',
  'cam.state.retrying': 'retrying',
  'cam.state.down': 'down',
  'cam.state.disabled': 'disabled',
  'cam.fps': '{fps} fps',
  'cam.skipped': '{n} skipped',
  'cam.corrupt': '{n} corrupt',
  'ai.title': 'Detector',
  'ai.on': 'On',
  'ai.off': 'Off',
  'ai.backend': 'Backend',
  'ai.model': 'Model',
  'ai.inference': 'Inference',
  'ai.ms': '{ms} ms',
  'ai.reason.no_model': 'no model file; events come from motion only',
  'ai.reason.model_load_failed': 'the model could not be loaded; events come from motion only',
  'ai.reason.npu_unavailable': 'the NPU is not available',
  'ai.reason.disabled': 'turned off in the configuration',
  'ai.reason.unknown': 'off ({reason})',
  'ai.npu': 'NPU',
  'ai.fallback': 'not used, detecting on the CPU: {reason}',
  'ai.fallback.npu_unavailable': 'the NPU is not available',
  'ai.fallback.model_load_failed': 'the NPU model could not be loaded',
  'ai.fallback.no_model': 'the NPU model file is missing',
  'sys.title': 'Device',
  'sys.storage': 'Storage',
  'sys.storage.ok': 'OK, {free} free',
  'sys.storage.okNoFree': 'OK',
  'sys.storage.error': 'Error: {error}',
  'sys.storage.pending': {
    one: '{n} event (stored once the disk works again)',
    other: '{n} events (stored once the disk works again)',
  },
  'sys.storage.dropped': {
    one: '{n} event (sent live, missing from the history)',
    other: '{n} events (sent live, missing from the history)',
  },
  'sys.snapshots.lowSpace': 'paused: the disk is almost full',
  'sys.snapshots.error': 'not saved: {error}',
  'sys.note.pending': 'Waiting to be stored',
  'sys.note.dropped': 'Not stored',
  'sys.note.snapshots': 'Snapshots',
  'sys.note.notice': 'Note',
  'sys.clients': 'Dashboards connected',
  'sys.uptime': 'Up for',
  'sys.version': 'Version',
  'sys.config': 'Configuration',
  'sys.config.reloadFailed': 'reload at {time} failed, still running the previous configuration: {error}',
  'events.title': 'Events',
  'events.empty': 'No events yet. They appear here as soon as a camera sees something.',
  'events.loading': 'Loading history…',
  'events.loadMore': 'Load more',
  'events.loadFailed': 'Could not load history: {error}',
  'events.retry': 'Try again',
  'events.ongoing': 'Ongoing',
  'events.ended': 'Ended',
  'events.confidence': '{pct} confidence',
  'events.noSnapshot': 'No snapshot',
  'events.reason.restart': 'ended by a restart',
  'events.reason.camera_removed': 'camera removed',
  'type.person': 'Person',
  'type.motion': 'Motion',
  'type.car': 'Car',
  'type.dog': 'Dog',
  'type.cat': 'Cat',
  'toast.new': 'New event: {camera}',
  'toast.close': 'Close',
  'token.title': 'This device needs an access token',
  'token.wrong': 'That token was not accepted. Check it and try again.',
  'token.help': 'It is the token set under [server] in /etc/gozcu/gozcu.toml. It is kept in this browser only.',
  'token.label': 'Access token',
  'token.save': 'Connect',
  'token.change': 'Change token',
  'dur.s': '{n} s',
  'dur.m': '{n} min',
  'dur.h': '{h} h {m} min',
  'dur.d': '{d} d {h} h',
};

const tr = {
  title: 'gozcu',
  'conn.connecting': 'Bağlanıyor…',
  'conn.live': 'Canlı Bağlantı',
  'conn.reconnecting': 'Yeniden bağlanıyor… ({n}. deneme)',
  'conn.disconnected': 'Bağlantı Kesildi',
  'conn.attempt': '{n}. deneme',
  'conn.offline': 'Bağlantı Kesildi (çevrimdışı)',
  'conn.gaveUp': 'Bağlantı Kesildi: yeniden bağlanma denemeleri bitti',
  'conn.retryNow': 'Şimdi dene',
  'conn.stale': 'Bilinen son durum gösteriliyor',
  'lang.label': 'Dil',
  'cams.title': 'Kameralar',
  'cams.online': 'Çevrimiçi',
  'cams.retrying': 'Yeniden deneniyor',
  'cams.down': 'Çalışmıyor',
  'cams.none': 'Yapılandırılmış kamera yok',
  'cam.state.starting': 'başlıyor',
  'cam.state.online': 'çevrimiçi',
  'cam.state.retrying': 'yeniden deneniyor',
  'cam.state.down': 'çalışmıyor',
  'cam.state.disabled': 'kapalı',
  'cam.fps': '{fps} fps',
  'cam.skipped': '{n} atlandı',
  'cam.corrupt': '{n} bozuk',
  'ai.title': 'Nesne algılama',
  'ai.on': 'Açık',
  'ai.off': 'Kapalı',
  'ai.backend': 'Çalıştığı yer',
  'ai.model': 'Model',
  'ai.inference': 'Çıkarım süresi',
  'ai.ms': '{ms} ms',
  'ai.reason.no_model': 'model dosyası yok; olaylar yalnızca hareketten üretiliyor',
  'ai.reason.model_load_failed': 'model yüklenemedi; olaylar yalnızca hareketten üretiliyor',
  'ai.reason.npu_unavailable': 'NPU kullanılamıyor',
  'ai.reason.disabled': 'yapılandırmada kapatılmış',
  'ai.reason.unknown': 'kapalı ({reason})',
  'ai.npu': 'NPU',
  'ai.fallback': 'kullanılmıyor, algılama CPU üzerinde: {reason}',
  'ai.fallback.npu_unavailable': 'NPU kullanılamıyor',
  'ai.fallback.model_load_failed': 'NPU modeli yüklenemedi',
  'ai.fallback.no_model': 'NPU model dosyası yok',
  'sys.title': 'Cihaz',
  'sys.storage': 'Depolama',
  'sys.storage.ok': 'Sorunsuz, {free} boş',
  'sys.storage.okNoFree': 'Sorunsuz',
  'sys.storage.error': 'Hata: {error}',
  'sys.storage.pending': '{n} olay (disk yeniden çalışınca kaydedilecek)',
  'sys.storage.dropped': '{n} olay (canlı gönderildi, geçmişte yok)',
  'sys.snapshots.lowSpace': 'duraklatıldı: disk neredeyse dolu',
  'sys.snapshots.error': 'kaydedilemiyor: {error}',
  'sys.note.pending': 'Kaydedilmeyi bekleyen',
  'sys.note.dropped': 'Kaydedilemeyen',
  'sys.note.snapshots': 'Anlık görüntüler',
  'sys.note.notice': 'Not',
  'sys.clients': 'Bağlı paneller',
  'sys.uptime': 'Çalışma süresi',
  'sys.version': 'Sürüm',
  'sys.config': 'Yapılandırma',
  'sys.config.reloadFailed': '{time} yeniden yüklemesi başarısız, önceki yapılandırmayla çalışmaya devam ediyor: {error}',
  'events.title': 'Olaylar',
  'events.empty': 'Henüz olay yok. Bir kamera bir şey gördüğünde burada görünür.',
  'events.loading': 'Geçmiş yükleniyor…',
  'events.loadMore': 'Daha fazla yükle',
  'events.loadFailed': 'Geçmiş yüklenemedi: {error}',
  'events.retry': 'Tekrar dene',
  'events.ongoing': 'Sürüyor',
  'events.ended': 'Bitti',
  'events.confidence': '{pct} güven',
  'events.noSnapshot': 'Görüntü yok',
  'events.reason.restart': 'yeniden başlatmayla bitti',
  'events.reason.camera_removed': 'kamera kaldırıldı',
  'type.person': 'Kişi',
  'type.motion': 'Hareket',
  'type.car': 'Araba',
  'type.dog': 'Köpek',
  'type.cat': 'Kedi',
  'toast.new': 'Yeni olay: {camera}',
  'toast.close': 'Kapat',
  'token.title': 'Bu cihaz bir erişim anahtarı istiyor',
  'token.wrong': 'Bu anahtar kabul edilmedi. Kontrol edip tekrar deneyin.',
  'token.help': '/etc/gozcu/gozcu.toml dosyasında [server] altındaki token değeridir. Yalnızca bu tarayıcıda saklanır.',
  'token.label': 'Erişim anahtarı',
  'token.save': 'Bağlan',
  'token.change': 'Anahtarı değiştir',
  'dur.s': '{n} sn',
  'dur.m': '{n} dk',
  'dur.h': '{h} sa {m} dk',
  'dur.d': '{d} g {h} sa',
};

export const MESSAGES = { en, tr };

/**
 * The language to show: a stored choice if valid, else the first of the browser's
 * preferred languages that we have (tr-TR -> tr), else English.
 */
export function pickLanguage(preferred = [], stored = null) {
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of preferred) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return 'en';
}

/**
 * A translator for `lang`: t(key, params) fills `{name}` placeholders. Numbers and times use
 * the browser's own regional variant of that language when it has one (en-US clocks show
 * AM/PM, en-GB ones do not). A message that depends on a count is an object of plural forms
 * (`one`, `other`, as `Intl.PluralRules` names them) chosen by `params.n`; Turkish needs none
 * (a noun after a number stays singular: "1 olay", "5 olay").
 */
export function translator(lang, preferred = []) {
  const table = MESSAGES[lang] ?? en;
  const regional = preferred.find((tag) => String(tag).toLowerCase().split('-')[0] === lang);
  const locale = regional ?? (lang === 'tr' ? 'tr-TR' : 'en-GB');
  const plurals = new Intl.PluralRules(locale);
  const t = (key, params = {}) => {
    const message = table[key] ?? en[key] ?? key;
    const text =
      typeof message === 'string' ? message : (message[plurals.select(Number(params.n))] ?? message.other);
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  };
  t.lang = lang;
  t.locale = locale;
  return t;
}

/** Label of an event type, e.g. person -> Person / Kişi; unknown types are shown as sent. */
export function eventTypeLabel(t, type) {
  const key = `type.${type}`;
  const text = t(key);
  return text === key ? String(type) : text;
}

/** Why the detector is off, in words. */
export function aiReasonText(t, reason) {
  const key = `ai.reason.${reason}`;
  const text = t(key);
  return text === key ? t('ai.reason.unknown', { reason }) : text;
}

/**
 * Why `detector.backend = "auto"` runs on the CPU (status `ai.fallback`), in words; an
 * unknown reason code is shown as sent.
 */
export function aiFallbackText(t, fallback) {
  const reason = fallback?.reason ?? '?';
  const key = `ai.fallback.${reason}`;
  const text = t(key);
  return t('ai.fallback', { reason: text === key ? String(reason) : text });
}

/** 0.873 -> "87%" (en) / "%87" (tr). */
export function formatPercent(t, value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  return new Intl.NumberFormat(t.locale, { style: 'percent', maximumFractionDigits: 0 }).format(value);
}

/** Megabytes as MB or GB with the locale's decimal mark. */
export function formatMegabytes(t, mb) {
  const nf = (n, d) => new Intl.NumberFormat(t.locale, { maximumFractionDigits: d }).format(n);
  return mb >= 1024 ? `${nf(mb / 1024, 1)} GB` : `${nf(mb, 0)} MB`;
}

/** Seconds as a short duration: "42 s", "5 min", "3 h 12 min", "2 d 4 h". */
export function formatDuration(t, seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  if (s < 60) return t('dur.s', { n: s });
  if (s < 3600) return t('dur.m', { n: Math.floor(s / 60) });
  if (s < 86400) return t('dur.h', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  return t('dur.d', { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
}

/**
 * An RFC 3339 time in the browser's time zone: only the clock time for today, date and time
 * otherwise. `now` is passed in so tests can fix it.
 */
export function formatTime(t, iso, now = new Date()) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const sameDay = d.toDateString() === now.toDateString();
  const opts = sameDay
    ? { hour: '2-digit', minute: '2-digit', second: '2-digit' }
    : { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' };
  return new Intl.DateTimeFormat(t.locale, opts).format(d);
}
