/* sova: one binary, one subcommand per process role. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static void usage(FILE *out)
{
	fputs("usage: sova <command> [args]\n"
	      "\n"
	      "commands:\n"
	      "  api               serve the REST API for every clinic (sova api --help)\n"
	      "  script FILE.lua   run a trusted Lua script, e.g. scripts/setup_multi_tenant.lua\n"
	      "  bot               the call runtime (sova bot --help)\n"
	      "  campaigns         the campaign scheduler: batch calls (sova campaigns --help)\n"
	      "  flow              flow engineer's tools: check, simulate (sova flow --help)\n"
	      "  help              this text\n",
	      out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 64;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "help") != 0 && strcmp(cmd, "--help") != 0 && strcmp(cmd, "-h") != 0 && !sova_lua_dir()) {
		fputs("sova: cannot find the platform Lua: expected share/sova/lua (installed) or lua/ (build tree) "
		      "beside the directory of this binary\n", stderr);
		return 69;
	}
	if (strcmp(cmd, "api") == 0)
		return sova_main_api(argc - 2, argv + 2);
	if (strcmp(cmd, "script") == 0) {
		if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
			puts("usage: sova script FILE.lua [ARGS...]\n\nRuns FILE with the platform's Lua (lua/) and sova.core; "
			     "ARGS are in the global `arg`. The script's numeric return value is the exit status.");
			return 0;
		}
		return sova_main_script(argc - 2, argv + 2);
	}
	if (strcmp(cmd, "flow") == 0)
		return sova_main_tool("sova.tools.flow", argc - 2, argv + 2);
	if (strcmp(cmd, "campaigns") == 0)
		return sova_main_tool("sova.campaign.scheduler", argc - 2, argv + 2);
	if (strcmp(cmd, "bot") == 0)
		return sova_main_bot(argc - 2, argv + 2);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "sova: unknown command '%s'\n", cmd);
	usage(stderr);
	return 64;
}
