/**
 * The last line of the masking: every message about a config is cleaned of the secret strings that config holds,
 * whatever helper built the message (a value quoted by ajv or the driver may not sit at a path the masking knows).
 */
import { isPlainObject, isSecretPath, pointer, urlSecrets, type OptionIssue } from '../errors';

/** Every secret string a config holds (values at secret paths, URL passwords), for a last redaction of messages. */
export function collectSecrets(value: unknown, path = '', out = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    // A ${VAR} reference is not a secret; the value it resolves to is collected after substitution.
    if (value.includes('${')) return out;
    urlSecrets(value).forEach((x) => out.add(x));
    if (isSecretPath(path)) out.add(value);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collectSecrets(v, `${path}/${i}`, out));
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) collectSecrets(v, pointer(path, k), out);
  }
  return out;
}

/** The issues with every secret of `secrets` replaced by ****; the longest first, so no part of one is left. */
export function redact(issues: OptionIssue[], secrets: Set<string>): OptionIssue[] {
  // Shorter strings would blank ordinary words of the messages.
  const list = [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  if (!list.length) return issues;
  return issues.map((i) => {
    let message = i.message;
    for (const s of list) message = message.split(s).join('****');
    return { path: i.path, message };
  });
}
