// Package vocab is the word list prompts and the simulator's tokenizer share:
// a leaf, so the simulator need not import the workload generator.
package vocab

import "strings"

// vocabulary is a list of common English words. Most tokenizers map each to a
// single token (with its leading space), so the token count of a prompt built
// from them is close to its word count; /tokenize refines the ratio.
var vocabulary = strings.Fields(`
the of and to in is was for that with as on by at from his her he she it they this
which are be an or had not but have one all their were there been has when who will
more no if out so said what up its about into than them can only other new some could
time these two may then do first any like my now over such our man me even most made
after also did many before must through back years where much your way well down
should because each just those people how too little state good very make world still
own see men work long get here between both life being under never day same another
know while last might us great old year off come since against go came right used take
three house use during without again place around however home small found thought
went say part once general high upon school every does got united left number course
war until always away something fact though water less public put think almost hand
enough far took head yet government system better set told nothing night end why
called didn find look asked later point knew city next program business give group
toward young days let room president side social given present several order national
possible rather second face per among form important often things looked early white
case john become large big need four within felt along children saw best church ever
least power development light thing seemed family interest want members mind country
area others done turned although open god service certain kind problem began different
door thus help sense means whole matter perhaps itself york times law human line above
name example action company hands local show whether five history gave today either act
feet across taken past quite anything having seen death experience body word half
really week field car words already themselves information tell together college
shall money period held keep sure free probably seems real behind cannot miss political
air question making office brought whose special heard major problems ago became federal
moment study available known result street economic boy position reason change south
board individual job areas society west close turn love community true court force full
`)

// Words returns the vocabulary prompts are built from.
func Words() []string { return vocabulary }
