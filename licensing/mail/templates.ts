/** The mails users get: their license, credits added, a low balance. Plain text, Chinese and English. */
import { toCredits } from '../money.ts';
import type { Mail } from './mailer.ts';

export function licenseMail(options: { email: string; key: string; credits: number }): Mail {
  return {
    kind: 'license',
    to: options.email,
    subject: 'Your Cradle license key / 您的 Cradle 许可证',
    text: `Your license key: ${options.key}
Balance: ${toCredits(options.credits)} credits

How to use it: enter the key in the Cradle app, or send it with every request:
  X-License-Key: ${options.key}
  X-Device-Id: <your device id>
OpenAI-compatible apps: use the key as the API key and this gateway's /v1 as the base URL.

您的许可证密钥：${options.key}
余额：${toCredits(options.credits)}
`,
  };
}

export function creditsMail(options: { email: string; added: number; balance: number }): Mail {
  return {
    kind: 'credits',
    to: options.email,
    subject: 'Credits added / 充值成功',
    text: `${toCredits(options.added)} credits were added. Your balance is now ${toCredits(options.balance)} credits.

已充值 ${toCredits(options.added)}，当前余额 ${toCredits(options.balance)}。
`,
  };
}

export function lowBalanceMail(options: { email: string; balance: number }): Mail {
  return {
    kind: 'low_balance',
    to: options.email,
    subject: 'Low balance / 余额不足提醒',
    text: `Your balance is ${toCredits(options.balance)} credits. Recharge to keep using Cradle.

您的余额为 ${toCredits(options.balance)}，请及时充值。
`,
  };
}
