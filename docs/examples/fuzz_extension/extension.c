/*
 * memsnap-fuzz extension for firmware.c: the UART is an MMIO region fed
 * from the fuzz input, the sensor is stubbed, assert_fail() is a crash of
 * kind "assertion", and the firmware boots once in setup.
 *
 *   cc -shared -fPIC extension.c -o fw_extension.so $(pkg-config --cflags --libs memsnap-fuzz)
 *   memsnap-fuzz replay --config=firmware.conf crash-input
 *   memsnap-fuzz-libfuzzer --config=firmware.conf corpus/
 */
#include <memsnap/fuzz.h>

#define UART_BASE 0x40000000u
#define UART_EMPTY 0x100u

/* A guest read of the UART: the data register (offset 0) returns the next
 * input byte. */
static uint64_t uart_read(msf_target *t, uint64_t offset, unsigned size, void *user_data)
{
	uint8_t byte;
	(void)size;
	(void)user_data;
	if (offset != 0)
		return 0;
	return msf_input_take(t, &byte, 1) ? byte : UART_EMPTY;
}

/* Writes (the LED register) are accepted and ignored. */
static void uart_write(msf_target *t, uint64_t offset, unsigned size, uint64_t value,
		       void *user_data)
{
	(void)t, (void)offset, (void)size, (void)value, (void)user_data;
}

static void on_assert_fail(msf_target *t, uint64_t pc, void *user_data)
{
	(void)pc;
	(void)user_data;
	msf_crash(t, "assertion");
}

static void on_read_sensor(msf_target *t, uint64_t pc, void *user_data)
{
	(void)pc;
	(void)user_data;
	msf_return(t, 42);
}

static int setup(msf_target *t, void *user_data)
{
	uint64_t init, assert_fn, sensor;
	int rc;
	(void)user_data;
	if ((rc = msf_lookup_symbol(t, "firmware_init", &init)) ||
	    (rc = msf_lookup_symbol(t, "assert_fail", &assert_fn)) ||
	    (rc = msf_lookup_symbol(t, "read_sensor", &sensor)))
		return rc;
	if ((rc = msf_mmio_add(t, UART_BASE, 0x1000, uart_read, uart_write, NULL)) ||
	    (rc = msf_hook_add(t, assert_fn, on_assert_fail, NULL)) ||
	    (rc = msf_hook_add(t, sensor, on_read_sensor, NULL)))
		return rc;
	/* Boot: what firmware_init writes is part of every input's start. */
	return msf_call(t, init, 0, NULL);
}

/* The input reaches the firmware through the UART only. */
static int place_input(msf_target *t, const uint8_t *data, size_t len, void *user_data)
{
	(void)t, (void)data, (void)len, (void)user_data;
	return 0;
}

MSF_EXTENSION = {
    .abi = MSF_EXTENSION_ABI,
    .setup = setup,
    .place_input = place_input,
};
