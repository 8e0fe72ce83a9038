/* SPDX-License-Identifier: MIT */
/*
 * prose.c: the embedded text of `owbench run`'s quality step (prose.h). Sources and licences:
 *   1. Abraham Lincoln, the Gettysburg Address, 19 November 1863, in the text of the "Bliss copy"
 *      (1864), the version inscribed on the Lincoln Memorial. A work of the 19th century and of a
 *      U.S. official: public domain. Em dashes are written "--".
 *   2. "The Clockmaker of the Lower Town", a short story written for owbench in 2025 and dedicated
 *      to the public domain under CC0 1.0 (https://creativecommons.org/publicdomain/zero/1.0/).
 * The pieces below are joined with nothing between them; each stays under the 4095 bytes ISO C
 * promises for one string literal.
 */
#include "datasets/prose.h"

#include <stdlib.h>
#include <string.h>

static const char *const pieces[] = {
    "Four score and seven years ago our fathers brought forth on this continent, a new "
    "nation, conceived in Liberty, and dedicated to the proposition that all men are "
    "created equal.\n"
    "\n"
    "Now we are engaged in a great civil war, testing whether that nation, or any nation "
    "so conceived and so dedicated, can long endure. We are met on a great battle-field "
    "of that war. We have come to dedicate a portion of that field, as a final resting "
    "place for those who here gave their lives that that nation might live. It is "
    "altogether fitting and proper that we should do this.\n"
    "\n"
    "But, in a larger sense, we can not dedicate -- we can not consecrate -- we can not "
    "hallow -- this ground. The brave men, living and dead, who struggled here, have "
    "consecrated it, far above our poor power to add or detract. The world will little "
    "note, nor long remember what we say here, but it can never forget what they did "
    "here. It is for us the living, rather, to be dedicated here to the unfinished work "
    "which they who fought here have thus far so nobly advanced. It is rather for us to "
    "be here dedicated to the great task remaining before us -- that from these honored "
    "dead we take increased devotion to that cause for which they gave the last full "
    "measure of devotion -- that we here highly resolve that these dead shall not have "
    "died in vain -- that this nation, under God, shall have a new birth of freedom -- "
    "and that government of the people, by the people, for the people, shall not perish "
    "from the earth.\n"
    "\n"
    "The Clockmaker of the Lower Town\n"
    "\n"
    "In the lower town, where the river bends twice before it reaches the sea, there "
    "lived a clockmaker who would not sell a clock until it had kept time for a full "
    "month on the shelf above his bench. Travellers thought this a strange habit, and "
    "some of them said so. A merchant who had come a long way to buy a gift for his "
    "daughter once asked why a man with so many fine clocks should refuse to part with "
    "any of them. The clockmaker put down his glass and explained that a clock which runs "
    "well for an hour proves very little. Every spring is eager when it is new, every "
    "wheel turns smoothly while the oil is fresh, and any pendulum will swing in time on "
    "a quiet afternoon. What he wanted to know was how the clock behaved on a cold night, "
    "on a damp morning, and on the day a heavy cart shook the street outside. Only a "
    "month of such days, he said, could tell him whether the clock was honest.\n"
    "\n"
    "The merchant laughed, but he stayed in the town for the month, and every evening he "
    "came to the shop to compare the clocks against the bell of the old church. Some of "
    "them gained a minute in a week; others lost two minutes and then, for no reason "
    "anyone could see, made up the loss again. One small clock with a plain brass face "
    "kept perfect time for twenty days and then stopped without warning. The clockmaker "
    "opened it and found a hair from his own brush caught between two teeth of the escape "
    "wheel. He showed it to the merchant and said that this was the whole reason for the "
    "month. A fault that appears once in twenty days is a fault all the same, and a buyer "
    "far away would have no one to open the case for him.\n"
    "\n",
    "When the month was over, the merchant chose a tall clock of dark wood whose hands "
    "had never strayed more than a few seconds from the church bell. He asked the "
    "clockmaker to write down what he had seen, so that his daughter would know the clock "
    "had been tested and how. The clockmaker wrote a careful page. He did not say that "
    "the clock was perfect, because no clock is. He said instead how much it had gained "
    "and lost on each day, what the weather had been, and how far he would trust it to "
    "stay within a minute over a season. At the bottom he added that a second clock of "
    "the same pattern had done a little worse, and that the difference between the two "
    "was larger than he had expected, so the buyer should not take one good month as a "
    "promise for every clock he made.\n"
    "\n"
    "Years later the merchant's daughter kept the page folded inside the case of the "
    "clock. Visitors sometimes asked her why she valued a list of small numbers more than "
    "the carving on the door. She told them that the carving showed what the maker could "
    "do with his hands, but the page showed what he was willing to admit. Anyone can "
    "praise his own work, she said; it is rarer to measure it, to write down how far it "
    "wanders, and to say plainly what the measurement cannot tell.\n"
    "\n"
    "On winter evenings she would open the case, wind the clock, and read the page again "
    "by the light of the lamp. The river still bent twice below the town, the old church "
    "still rang the hours, and somewhere in the lower town, she supposed, another clock "
    "was sitting on a shelf above a bench, waiting out its month before anyone would be "
    "allowed to trust it.\n",
};

static const struct owb_prose_info info = {
    "owb-prose",
    "Gettysburg Address (Bliss copy) and a short story, 4724 bytes of plain ASCII English",
    "Abraham Lincoln, Gettysburg Address, Bliss copy (1864); \"The Clockmaker of the Lower "
    "Town\", written for owbench (2025)",
    "public domain (U.S. work of 1863/1864; CC0 1.0 dedication for the story)",
};

const struct owb_prose_info *owb_prose_info(void)
{
    return &info;
}

size_t owb_prose_len(void)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
        n += strlen(pieces[i]);
    return n;
}

char *owb_prose_text(size_t *len)
{
    size_t n = owb_prose_len(), k = 0;
    char *t = malloc(n + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        size_t m = strlen(pieces[i]);
        memcpy(t + k, pieces[i], m);
        k += m;
    }
    t[k] = '\0';
    if (len)
        *len = k;
    return t;
}
