/* Target configuration: the parser accepts documented configs and rejects
 * bad ones with a message naming the line and the problem. */
#include "../common.h"

#include <criterion/criterion.h>
#include <string.h>

#include "fuzz.h"

Test(config, parses_a_complete_config)
{
	msf_config c;
	char err[MSF_ERR_LEN] = "";
	msf_config_init(&c);
	const char *text = "# demo\n"
			   "elf = /x/demo.elf\n"
			   "entry = memsnap_demo_parse\n"
			   "exit = memsnap_demo_exit, 0x10010\n"
			   "abort = guest_abort+4\n"
			   "input = 0x22000   # buffer\n"
			   "input_max = 4K\n"
			   "input_ptr_reg = rdi\n"
			   "input_len_reg = rsi\n"
			   "stack = 0x7f000000 64K\n"
			   "ram = 0x40000000 64M rw\n"
			   "ram = 0x80000000 1M r file=/tmp/img@0x1000\n"
			   "budget = 5000\n"
			   "reset = memcpy\n"
			   "tracking = exact\n"
			   "save_timeouts = true\n";
	cr_assert_eq(msf_config_parse_text(&c, text, "t.conf", err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(c.elf, "/x/demo.elf");
	cr_assert_eq(c.n_exits, 2);
	cr_assert_str_eq(c.exits[1], "0x10010");
	cr_assert_eq(c.input_max, 4096);
	cr_assert_eq(c.n_ram, 3);
	cr_assert_eq(c.ram[0].addr, 0x7f000000);
	cr_assert_eq(c.ram[1].size, 64u << 20);
	cr_assert_str_eq(c.ram[2].file, "/tmp/img");
	cr_assert_eq(c.ram[2].file_offset, 0x1000);
	cr_assert_str_eq(c.stack_top, "0x7f010000");
	cr_assert_eq(c.budget, 5000);
	cr_assert_eq(c.reset, MSF_RESET_MEMCPY);
	cr_assert_eq(c.tracking, MSF_TRACK_EXACT);
	cr_assert_eq(c.save_timeouts, 1);
	msf_config_free(&c);
}

Test(config, command_line_overrides_the_file)
{
	char path[256];
	const char *text = "elf = demo.elf\nbudget = 10\n";
	ms_test_tmpfile(path, sizeof path, text, strlen(text));
	char cfg_arg[300];
	snprintf(cfg_arg, sizeof cfg_arg, "--config=%s", path);
	char *argv[] = {"prog", "--budget=20", "input.bin", cfg_arg, "--reset=memcpy", NULL};
	int argc = 5;
	msf_config c;
	char err[MSF_ERR_LEN] = "";
	msf_config_init(&c);
	cr_assert_eq(msf_config_parse_args(&c, &argc, argv, err, sizeof err), 0, "%s", err);
	cr_assert_eq(argc, 2);
	cr_assert_str_eq(argv[1], "input.bin");
	cr_assert_eq(c.budget, 20);
	cr_assert_eq(c.reset, MSF_RESET_MEMCPY);
	/* A relative ELF path is relative to the config file's folder. */
	cr_assert(strstr(c.elf, "/demo.elf") && c.elf[0] == '/', "elf = %s", c.elf);
	msf_config_free(&c);
	unlink(path);
}

static const struct {
	const char *text;
	const char *message;
} bad_configs[] = {
    {"elf /x.elf\n", "t.conf:1: expected 'key = value'"},
    {"\n\n = 3\n", "t.conf:3: missing key"},
    {"colour = blue\n", "unknown key 'colour'"},
    {"elf =\n", "'elf' has an empty value"},
    {"elf = a\nelf = b\n", "t.conf:2: 'elf' is set twice"},
    {"budget = 0\n", "budget: '0' is not a positive number"},
    {"budget = lots\n", "budget: 'lots' is not a positive number"},
    {"budget = -5\n", "not a positive number"},
    {"input_max = 4G\n", "over 1 GiB"},
    {"reset = fork\n", "reset: 'fork' is not memsnap or memcpy"},
    {"tracking = uffd-sync\n", "tracking: 'uffd-sync' is not hook or exact (choose exact's "
			       "tracker with MEMSNAP_TRACKER)"},
    {"tracking = Hook\n", "tracking: 'Hook' is not hook or exact"},
    {"tracking =\n", "'tracking' has an empty value"},
    {"arch = mips\n", "arch: 'mips' is not x86-64, thumb or arm"},
    {"entry = 12zz\n", "entry: '12zz' is neither a symbol nor an address"},
    {"entry = foo bar\n", "neither a symbol nor an address"},
    {"exit = a, 0xq\n", "exit: '0xq' is neither"},
    {"exit = a,b,c,d,e,f,g,h,i\n", "at most 8 exits"},
    {"ram = 0x1000\n", "ram: expected 'ADDRESS SIZE"},
    {"ram = 0x1000 0\n", "ram: size is zero"},
    {"ram = 0x1001 4K\n", "multiples of 4 KiB"},
    {"ram = 0x1000 4K rwz\n", "ram: bad permissions 'rwz'"},
    {"ram = 0x1000 4K file=\n", "ram: empty file name"},
    {"ram = 0x1000 4K file=x@12\n", "file offset must be a multiple of 4 KiB"},
    {"ram = 0xfffffffffffff000 8K\n", "wraps around"},
    {"stack = 0x1000\n", "stack: expected 'ADDRESS SIZE'"},
    {"input_ptr_reg = r-1\n", "bad register name"},
    {"prefault = maybe\n", "prefault: 'maybe' is not a boolean"},
};

Test(config, rejects_bad_configs_with_clear_messages)
{
	for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
		msf_config c;
		char err[MSF_ERR_LEN] = "";
		msf_config_init(&c);
		int rc = msf_config_parse_text(&c, bad_configs[i].text, "t.conf", err, sizeof err);
		cr_expect_eq(rc, -1, "accepted: %s", bad_configs[i].text);
		cr_expect(strstr(err, bad_configs[i].message), "config %s: got '%s', want '%s'",
			  bad_configs[i].text, err, bad_configs[i].message);
		if (rc == -1)
			cr_expect(!strncmp(err, "t.conf:", 7), "no location in '%s'", err);
		msf_config_free(&c);
	}
}

Test(config, tracking_defaults_to_exact_and_the_command_line_picks_hook)
{
	msf_config c;
	char err[MSF_ERR_LEN] = "";
	msf_config_init(&c);
	cr_assert_eq(c.reset, MSF_RESET_MEMSNAP);
	cr_assert_eq(c.tracking, MSF_TRACK_EXACT);
	char *argv[] = {"prog", "--tracking=hook", "in", NULL};
	int argc = 3;
	cr_assert_eq(msf_config_parse_args(&c, &argc, argv, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.tracking, MSF_TRACK_HOOK);
	char *bad[] = {"prog", "--tracking=none", NULL};
	argc = 2;
	cr_assert_eq(msf_config_parse_args(&c, &argc, bad, err, sizeof err), -1);
	cr_assert(strstr(err, "--tracking=none: tracking: 'none' is not hook or exact"), "%s", err);
	msf_config_free(&c);
}

Test(config, a_missing_elf_is_reported)
{
	msf_config c;
	char err[MSF_ERR_LEN] = "";
	msf_config_init(&c);
	cr_assert_eq(msf_config_check(&c, err, sizeof err), -1);
	cr_assert(strstr(err, "set 'elf'"), "%s", err);
	msf_config_free(&c);
}

Test(config, a_missing_file_is_reported)
{
	msf_config c;
	char err[MSF_ERR_LEN] = "";
	msf_config_init(&c);
	cr_assert_eq(msf_config_parse_file(&c, "/nonexistent/x.conf", err, sizeof err), -1);
	cr_assert(strstr(err, "/nonexistent/x.conf: No such file"), "%s", err);
	msf_config_free(&c);
}

Test(config, a_target_with_unknown_symbols_is_refused)
{
	const char *elf = getenv("MEMSNAP_DEMO_X86_64");
	if (!elf)
		cr_skip_test("the x86-64 demo is not built");
	msf_config c;
	msf_target *t = NULL;
	char err[MSF_ERR_LEN] = "";
	msf_config_init(&c);
	cr_assert_eq(msf_config_set(&c, "elf", elf, 0, err, sizeof err), 0);
	cr_assert_eq(msf_config_set(&c, "entry", "no_such_function", 0, err, sizeof err), 0);
	cr_assert_eq(msf_target_new(&c, &t, err, sizeof err), -1);
	cr_assert(strstr(err, "symbol 'no_such_function' is not in"), "%s", err);
	msf_config_free(&c);
}

Test(config, a_relative_extension_is_relative_to_the_config_file)
{
	char path[256];
	const char *text = "elf = /x/demo.elf\nextension = ext/target.so\n";
	ms_test_tmpfile(path, sizeof path, text, strlen(text));
	msf_config c;
	char err[MSF_ERR_LEN] = "", want[300];
	msf_config_init(&c);
	cr_assert_eq(msf_config_parse_file(&c, path, err, sizeof err), 0, "%s", err);
	snprintf(want, sizeof want, "%s/ext/target.so", ms_test_tmpdir());
	cr_assert_str_eq(c.extension, want);
	cr_assert_str_eq(c.elf, "/x/demo.elf");
	msf_config_free(&c);
	unlink(path);
}
