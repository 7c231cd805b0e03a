/* Entry points of the Lua host for main.c, which stays free of lua.h. */
#ifndef SOVA_LUA_ENTRY_H
#define SOVA_LUA_ENTRY_H
/* sova api: serves until SIGINT/SIGTERM. Returns the process exit status. */
int sova_main_api(int argc, char **argv);
/* sova script FILE [ARGS...]: runs a trusted Lua script with `arg` set. */
int sova_main_script(int argc, char **argv);
/* sova flow ...: runs require(module).main(args) in a trusted state; its number is the exit status. */
int sova_main_tool(const char *module, int argc, char **argv);
/* sova bot: the call runtime; serves until SIGINT/SIGTERM. */
int sova_main_bot(int argc, char **argv);
#endif
