
h
in0Const*
dtype0*M
valueDBB"0bë$?gä>8z/¿^ps¿Õ‘¼¾Â8è>¼¿ÐH>îã[?©Óü¾‰M¿þEÇ¾
H
in1Const*
dtype0*-
value$B""ÑÄ¼{X%?‘É>ˆá>›´N¼
*
opSquaredDifferencein0in1*
T0