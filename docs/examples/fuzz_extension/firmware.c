/*
 * A toy firmware for the memsnap-fuzz extension example: it reads packets
 * from a UART data register, drives an LED register, reads a sensor and
 * checks its packets with assert_fail(). Built freestanding for x86-64 with
 * the demo's linker script (harness/demo/demo.ld) and exit stub.
 *
 * UART_DATA gives the next received byte, or UART_EMPTY when there is none.
 */
#include <stdint.h>

#define UART_DATA (*(volatile uint32_t *)0x40000000)
#define LED (*(volatile uint32_t *)0x40000004)
#define UART_EMPTY 0x100u
#define NOINLINE __attribute__((noipa, used))

struct settings {
	uint32_t ready;
	uint32_t max_payload;
};
struct settings settings;

/* Run once at boot: the extension calls it from setup, so every input
 * starts from a booted firmware. */
NOINLINE void firmware_init(void)
{
	settings.max_payload = 16;
	settings.ready = 1;
}

/* Never returns on real hardware. */
NOINLINE void assert_fail(int line)
{
	(void)line;
	for (;;)
		;
}

/* Reads an I2C sensor on real hardware; stubbed by the extension. */
NOINLINE uint32_t read_sensor(void)
{
	return *(volatile uint32_t *)0xdead0000;
}

/* Processes packets until the UART is empty; returns how many. */
NOINLINE int firmware_main(void)
{
	uint8_t payload[16];
	int packets = 0;
	if (!settings.ready)
		assert_fail(__LINE__);
	for (;;) {
		uint32_t type = UART_DATA;
		if (type == UART_EMPTY)
			return packets;
		packets++;
		if (type == 'L') {
			LED = UART_DATA & 0xff;
		} else if (type == 'S') {
			LED = read_sensor() > 40;
		} else if (type == 'P') {
			uint32_t len = UART_DATA & 0xff;
			/* The bug: len may reach 255, the buffer holds 16. */
			if (len > settings.max_payload)
				assert_fail(__LINE__);
			for (uint32_t i = 0; i < len; i++)
				payload[i] = (uint8_t)UART_DATA;
			LED = payload[0];
		}
	}
}
