/**
 * The conversation template (SPEC.md section 6): LLaVA v1 as LISA uses it, overridable from the
 * manifest. Rendering follows LLaVA's SeparatorStyle.TWO exactly: system + sep, then per turn
 * "ROLE: message" + the turn's separator, and a bare "ROLE:" for the turn the model is to write.
 */
import { HrsegError } from '../errors.js';

export interface ConversationTemplate {
  system: string;
  roles: readonly [string, string];
  /** After the system line and user turns (" "), and after assistant turns ("</s>"). */
  sep: string;
  sep2: string;
  /** The user turn for a sentence query; `{query}` is replaced. */
  sentence: string;
  /** The user turn for a short-phrase query. */
  phrase: string;
  /** The user turn for an instruction as typed (LISA's chat.py: the image, a newline, the text). */
  chat: string;
  imageToken: string;
  imStart: string;
  imEnd: string;
  /** Wrap the image placeholder as imStart + image + imEnd (LISA's checkpoints do). */
  useImStartEnd: boolean;
  /** The answer teacher-forced in evaluation mode. */
  evalAnswer: string;
}

export const LLAVA_V1_TEMPLATE: Readonly<ConversationTemplate> = Object.freeze({
  system:
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.",
  roles: ['USER', 'ASSISTANT'] as const,
  sep: ' ',
  sep2: '</s>',
  sentence: '<image>\n{query} Please output segmentation mask.',
  phrase: '<image>\nWhat is {query} in this image? Please output segmentation mask.',
  chat: '<image>\n{query}',
  imageToken: '<image>',
  imStart: '<im_start>',
  imEnd: '<im_end>',
  useImStartEnd: true,
  evalAnswer: '[SEG].',
});

/** sentence and phrase: the evaluation's turns; chat: the instruction as typed. */
export type QueryForm = 'sentence' | 'phrase' | 'chat';
export const QUERY_FORMS: readonly QueryForm[] = ['sentence', 'phrase', 'chat'];

/** The full prompt; with `answer` the assistant turn is closed (teacher forcing). */
export function renderPrompt(t: ConversationTemplate, query: string, form: QueryForm, answer?: string): string {
  if (typeof query !== 'string' || query.trim() === '') throw new HrsegError('INVALID_ARGUMENT', 'the instruction is empty');
  if (!QUERY_FORMS.includes(form)) throw new HrsegError('INVALID_ARGUMENT', `form must be ${QUERY_FORMS.join(', ')}; got '${String(form)}'`);
  const turn = t[form];
  if (!turn.includes('{query}')) throw new HrsegError('INVALID_ARGUMENT', `template: the ${form} turn has no {query}`);
  let user = turn.split('{query}').join(query);
  if (t.useImStartEnd) user = user.split(t.imageToken).join(t.imStart + t.imageToken + t.imEnd);
  const [userRole, assistantRole] = t.roles;
  let out = t.system + t.sep + `${userRole}: ${user}` + t.sep;
  out += answer === undefined ? `${assistantRole}:` : `${assistantRole}: ${answer}` + t.sep2;
  return out;
}
