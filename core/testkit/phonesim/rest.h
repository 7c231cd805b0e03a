/* The REST API Twilio's client libraries and the bot use, on the simulator's listening vhost:
 *   POST /2010-04-01/Accounts/{AC}/Calls.json        create (form: To, From, Twiml, StatusCallback…) → 201
 *   POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json   update: Twiml=… (redirect) or Status=completed|canceled → 200
 *   GET  /2010-04-01/Accounts/{AC}/Calls/{CA}.json   the call → 200
 * HTTP Basic with the account SID and auth token; errors in Twilio's JSON shape
 * {"code","message","more_info","status"}: 401 (20003), 404 (20404: unknown or ended call),
 * 400 (21201 and on: a missing or bad parameter). Also, for the simulator's own specs:
 *   POST /_sim/sink/…  records the request (its path, X-Twilio-Signature and body) in the events
 *                      file and answers 200 <Response></Response>: a webhook target that needs no
 *                      server of the spec's own. */
#ifndef SOVA_PHONESIM_REST_H
#define SOVA_PHONESIM_REST_H

#include <libwebsockets.h>

/* The protocol list of the listening vhost. */
extern const struct lws_protocols ps_rest_protocols[];
#endif
