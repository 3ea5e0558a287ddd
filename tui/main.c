/* main.c: placeholder until the command line lands. */
#include <stdio.h>

int main(void)
{
	puts("labdeck " LABDECK_VERSION);
	return 0;
}
