/* attr.h: the compiler attributes every part may use (a status that must
 * be checked, printf-style arguments), apart from ms.h so the pure parts
 * (the splitter) need nothing else of moonshift's. */
#ifndef MS_ATTR_H
#define MS_ATTR_H

#if defined(__GNUC__)
#define MS_MUST_CHECK __attribute__((warn_unused_result))
#define MS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MS_MUST_CHECK
#define MS_PRINTF(a, b)
#endif

#endif
