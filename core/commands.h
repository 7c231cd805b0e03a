/* The subcommands of `sova`, for main.c, which includes no Lua header. */
#ifndef SOVA_COMMANDS_H
#define SOVA_COMMANDS_H
/* sova api: serves until SIGINT/SIGTERM. Returns the process exit status. */
int sova_main_api(int argc, char **argv);
/* sova script FILE [ARGS...]: runs a trusted Lua script with `arg` set. */
int sova_main_script(int argc, char **argv);
/* sova flow ...: runs require(module).main(args) in a trusted state; its number is the exit status. */
int sova_main_tool(const char *module, int argc, char **argv);
/* sova bot: the call runtime; serves until SIGINT/SIGTERM. */
int sova_main_bot(int argc, char **argv);
/* The platform Lua directory found next to the binary (core/bind/module.c); NULL when missing. */
const char *sova_lua_dir(void);
#endif
