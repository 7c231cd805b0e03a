/* HMAC-SHA1 for provider webhook signatures (webhook_sig.h). */
#include "crypto/webhook_sig.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

bool sova_hmac_sha1_base64(const void *key, size_t key_len, const void *data, size_t len,
			   char out[SOVA_HMAC_SHA1_B64_BYTES])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (key_len > 0x7fffffff ||
	    !HMAC(EVP_sha1(), key, (int)key_len, (const unsigned char *)data, len, mac, &mac_len) || mac_len != 20)
		return false;
	sodium_bin2base64(out, SOVA_HMAC_SHA1_B64_BYTES, mac, mac_len, sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(mac, sizeof mac);
	return true;
}
